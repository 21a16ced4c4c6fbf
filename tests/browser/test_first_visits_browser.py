"""A class reloading its tabs after a server restart: several first visits at once, straight
to a page, on a server where app.py has not run yet (Streamlit then runs pages as a legacy v1
multipage app; pages/shared.py switches to app.py's navigation). Each tab gets the page, with
the app's menu, and no error."""
from tests.browser.util import main_text, wait_for_app

TABS = 3


def test_simultaneous_first_visits_straight_to_pages_all_get_the_app(make_server, new_context):
    server = make_server()
    targets = ["train?depth=1", "train?width=32", "draw"][:TABS]
    pages = [new_context().new_page() for _ in targets]
    for page, target in zip(pages, targets):          # all in flight together, as after a restart
        page.goto(f"{server.url}/{target}", wait_until="commit")
    for page, target in zip(pages, targets):
        ready = ".st-key-btn_start button:visible" if target.startswith("train") else "text=Draw a digit on the black canvas"
        wait_for_app(page, ready, timeout=120_000)
        assert page.locator("[data-testid=stException]").count() == 0, main_text(page)
        menu = page.locator("[data-testid=stSidebarNav]").inner_text()
        assert "Start here" in menu and "Train" in menu and "Look inside" in menu, menu   # app.py's titles
        assert "shared" not in menu and "class widgets" not in menu, menu                # not the v1 list
