"""The Kivy app: draws each KioskView it is shown and posts what the reader touches.

Threading: the runtime calls `show(view)` from its own thread; the newest view is
parked under a lock and drawn on the Kivy clock, so bursts of views cost one redraw.
Touches call `post(intent)` on the UI thread; the runtime's queue does the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import ColorProperty, NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager

from contract.screens import SCREENS, Press
from firmware.view import KioskView

from .fonts import register_cjk_font
from .i18n import Catalogue
from .present import notice_band_text
from .screens import KioskScreen, UiContext, build_screens
from .theme import theme_for
from .widgets import PALETTE, Band

KV_FILE = Path(__file__).with_name("kiosk.kv")
DESIGN_SIZE = (800, 480)

Post = Callable[[object], None]
ViewSource = Callable[[], KioskView] | Any


class KioskRoot(FloatLayout):
    """The whole window: the kiosk screen (and the simulator panel beside it in demos)."""


class KioskApp(App):
    """Renders KioskViews; turns touches into `Press` / `PinEntered` posted to `post`.

    `view_source` gives the first view: a callable returning the current KioskView, or
    an object with `subscribe(callback)` that will call `show` with every new view.
    """

    scale = NumericProperty(1.0)
    # The reader's large, high-contrast text (KioskView.large_text; kiosk_ui/theme.py).
    text_scale = NumericProperty(1.0)
    muted_ink = ColorProperty(PALETTE.muted_ink)
    title = "Capital Library Alliance kiosk"

    def __init__(
        self,
        post: Post,
        view_source: ViewSource = None,
        *,
        catalogue: Catalogue | None = None,
        sim_controls: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.post = post
        self.view_source = view_source
        self.catalogue = catalogue or Catalogue.load()
        self.sim_controls = sim_controls
        self.view = KioskView()
        self.screens: dict[str, KioskScreen] = {}
        self._lock = threading.Lock()
        self._pending: KioskView | None = None
        self.root_widget: KioskRoot | None = None

    # --- building -----------------------------------------------------------------
    def load_kv(self, filename: str | None = None) -> bool:
        """The kv file is loaded by `build` (once), so tests can build without `run`."""
        return True

    def build(self) -> KioskRoot:
        register_cjk_font()
        Builder.unload_file(str(KV_FILE))
        Builder.load_file(str(KV_FILE))
        root = KioskRoot()
        row = BoxLayout(orientation="horizontal")
        self.kiosk_area = BoxLayout(orientation="vertical")
        with self.kiosk_area.canvas.before:
            from kivy.graphics import Color, Rectangle

            self.background_colour = Color(*PALETTE.background)
            background = Rectangle()
        self.kiosk_area.bind(
            pos=lambda w, p: setattr(background, "pos", p),
            size=lambda w, s: setattr(background, "size", s),
        )
        self.kiosk_area.bind(size=self._rescale)
        # Offline banner, notice and countdown are strips above the screen: they push the
        # content down instead of covering a button or a book line.
        self.banner = Band(msg_key="banner.offline", bg=PALETTE.banner)
        self.notice_band = Band(bg=PALETTE.notice)
        self.countdown_band = Band(bg=PALETTE.banner)
        for band in (self.banner, self.notice_band, self.countdown_band):
            self.kiosk_area.add_widget(band)
        self.manager = ScreenManager(transition=NoTransition())
        ctx = UiContext(catalogue=self.catalogue, press=self.press, post=self.post)
        for screen in build_screens(ctx):
            self.screens[screen.name] = screen
            self.manager.add_widget(screen)
        self.kiosk_area.add_widget(self.manager)
        row.add_widget(self.kiosk_area)
        if self.sim_controls is not None:
            from .sim_panel import SimPanel

            self.sim_panel = SimPanel(self.sim_controls, size_hint_x=None, width=300)
            row.add_widget(self.sim_panel)
        root.add_widget(row)
        self.root_widget = root
        first = self._first_view()
        self.apply_view(first)
        return root

    def _first_view(self) -> KioskView:
        source = self.view_source
        if source is None:
            return KioskView()
        if hasattr(source, "subscribe"):
            source.subscribe(self.show)
        return source() if callable(source) else KioskView()

    def _rescale(self, _widget: object, size: tuple[float, float]) -> None:
        self.scale = max(0.5, min(size[0] / DESIGN_SIZE[0], size[1] / DESIGN_SIZE[1]))

    # --- intents --------------------------------------------------------------------
    def press(self, action: str) -> None:
        self.post(Press(action))

    # --- views ----------------------------------------------------------------------
    def show(self, view: KioskView) -> None:
        """Thread-safe: draw `view` on the next frame (only the newest pending view)."""
        with self._lock:
            scheduled = self._pending is not None
            self._pending = view
        if not scheduled:
            Clock.schedule_once(self._apply_pending, 0)

    def _apply_pending(self, _dt: float) -> None:
        with self._lock:
            view, self._pending = self._pending, None
        if view is not None:
            self.apply_view(view)

    def apply_theme(self, large_text: bool) -> None:
        """Font scale, page and detail colours, and the switch's words for `large_text`
        (before the words are filled in, so the switch names what a touch will do)."""
        theme = theme_for(large_text)
        self.text_scale = theme.text_scale
        self.muted_ink = theme.muted_ink
        self.background_colour.rgba = theme.background
        for screen in self.screens.values():
            switch = getattr(screen, "large_text_button", None)
            if switch is not None:
                switch.msg_key = theme.switch_key

    def apply_view(self, view: KioskView) -> None:
        """Draw `view` now (UI thread only)."""
        self.view = view
        cat = self.catalogue
        lang = view.language
        self.apply_theme(view.large_text)
        screen_name = view.screen if view.screen in SCREENS else "out_of_service"
        screen = self.screens[screen_name]
        # Screens off stage are not in the root's tree: walk the target screen too.
        for tree in (self.root_widget, screen):
            if tree is None:
                continue
            for widget in tree.walk():
                key = getattr(widget, "msg_key", "")
                if key:
                    widget.text = cat.text(lang, key)
        screen.update(view)
        if self.manager.current != screen_name:
            self.manager.current = screen_name
        self.banner.shown = not view.online
        if not view.online and view.offline_pending:
            # The count tells the van's crew (and any reader) how much waits to be sent.
            self.banner.text = cat.text(lang, "banner.offline_pending", n=view.offline_pending)
        notice = notice_band_text(view, cat)
        self.notice_band.text = notice
        self.notice_band.shown = bool(notice)
        if view.countdown_s is not None:
            self.countdown_band.text = cat.text(lang, "countdown", n=view.countdown_s)
            self.countdown_band.shown = True
        else:
            self.countdown_band.text = ""
            self.countdown_band.shown = False


def start_app(
    post: Post,
    view_source: ViewSource = None,
    *,
    sim_controls: Any = None,
    size: tuple[int, int] | None = None,
    fullscreen: bool = False,
) -> KioskApp:
    """Start the kiosk UI and block until it closes (what `make run` calls).

    Call it through `kiosk_ui.run_app`, which prepares SDL before Kivy is imported.
    """
    from kivy.core.window import Window

    if size is not None:
        Window.size = size
    if fullscreen:
        Window.fullscreen = "auto"
    app = KioskApp(post, view_source, sim_controls=sim_controls)
    app.run()
    return app
