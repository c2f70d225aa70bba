"""The kiosk's pure core: a state machine `(state, event) -> (state, effects)`."""
