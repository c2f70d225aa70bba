"""One Screen per `KioskView.screen`; each draws its part of the view and nothing more."""

from __future__ import annotations

from .base import KioskScreen, UiContext


def build_screens(ctx: UiContext) -> list[KioskScreen]:
    """Every screen, in `contract.screens.SCREENS` order."""
    from .attract import AttractScreen
    from .borrow import BorrowScreen
    from .help import HelpScreen
    from .maintenance import MaintenanceScreen
    from .out_of_service import OutOfServiceScreen
    from .pin import PinScreen
    from .returns import ReturnsScreen
    from .summary import SummaryScreen
    from .technician import TechnicianScreen

    classes: list[type[KioskScreen]] = [
        AttractScreen,
        PinScreen,
        BorrowScreen,
        ReturnsScreen,
        SummaryScreen,
        HelpScreen,
        OutOfServiceScreen,
        TechnicianScreen,
        MaintenanceScreen,
    ]
    return [cls(ctx) for cls in classes]


__all__ = ["KioskScreen", "UiContext", "build_screens"]
