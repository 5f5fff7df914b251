"""animatic."""
