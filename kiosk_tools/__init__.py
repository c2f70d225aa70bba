"""The kiosk's composition root and tools, above every other layer.

The command line (`python -m kiosk_tools`, `make run`), the simulator wiring, the scenario
runner and its control channel, the simulator console and panel, and the core test
harness. Nothing in `contract`, `drivers`, `firmware`, `kiosk_ui`, `hal_sim` or `hub`
imports from here (`make lint` checks it).
"""
