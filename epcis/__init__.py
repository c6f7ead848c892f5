"""tracecode package."""
