"""kiosk_ui."""
