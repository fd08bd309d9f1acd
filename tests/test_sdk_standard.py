"""The Meltano SDK's standard target tests; their streams route nowhere and are skipped."""

from singer_sdk.testing import get_target_test_class

from target_shopimind.target import TargetShopiMind

StandardTargetTests = get_target_test_class(
    TargetShopiMind,
    config={"api_key": "sandbox-key-0123456789abcdef", "base_url": "http://127.0.0.1:9"},
)


class TestTargetShopiMind(StandardTargetTests):  # type: ignore[misc,valid-type]
    """Standard target tests."""
