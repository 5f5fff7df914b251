"""film."""
