def test_home_tells_a_newcomer_what_to_do(open_page):
    at = open_page("pages/home.py")
    assert "MNIST neural-network playground" in at.title[0].value
    text = " ".join(m.value for m in at.markdown)
    for step in ("Train", "Draw a digit", "Look inside"):
        assert step in text
    assert at.session_state["owner"]          # a browser token is issued on the first page
