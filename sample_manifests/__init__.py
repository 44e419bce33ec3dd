"""The sample manifest trees, shipped as package data so an installed floe-tui finds them."""
