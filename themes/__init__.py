"""Theme files of the floe-tui console, installed as package `floe_tui_themes` (one TOML file a theme)."""
