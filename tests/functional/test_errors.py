"""Errors: HTML pages for people, the fixed JSON shape for clients that ask for JSON."""

from __future__ import annotations

from flask import Flask, abort
from flask.testing import FlaskClient


def test_404_is_an_html_page(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "There is nothing here." in response.get_data(as_text=True)


def test_404_is_json_when_the_client_asks_for_json(client: FlaskClient) -> None:
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json == {"code": 404, "message": "There is nothing here.", "data": {}}


def test_api_paths_always_answer_json(client: FlaskClient) -> None:
    response = client.get("/api/nothing")
    assert response.json is not None
    assert response.json["code"] == 404


def test_unexpected_exceptions_are_a_plain_500_without_a_trace(app: Flask) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    @app.get("/teapot")
    def teapot() -> str:
        abort(418)

    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    response = client.get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "secret internals" not in page
    assert "Traceback" not in page
    json_response = client.get("/boom", headers={"Accept": "application/json"})
    assert json_response.json == {"code": 500, "data": {},
                                  "message": "Something went wrong on our side. It has been reported."}
    assert client.get("/teapot").status_code == 418


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_bootstrap_is_served_from_the_package(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "cdn" not in page.lower()
    assert "/bootstrap/static/css/bootstrap.min.css" in page
    with client.get("/bootstrap/static/css/bootstrap.min.css") as css:
        assert css.status_code == 200
