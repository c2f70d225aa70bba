"""RFID book-tag data models (ISO 28560-2 / GB/T 35660.2 and ISO 28560-3): pure
decoders and encoders shared by the kiosk's RFID pad and the tools that program tags."""
