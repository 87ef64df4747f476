"""The account and session lifecycle over real HTTP against gunicorn on a loopback port: two
devices, concurrent refreshes of one token, "log out everywhere else", a password change and
the account's deletion (a JSON body on DELETE, as a browser or curl sends it)."""

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.servers import free_port, gunicorn_server

TIMEOUT = 10


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_account_lifecycle_over_http():
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    # gthread: the two refreshes really are in flight at once (the atomic update decides, on
    # the embedded store's lock as on MongoDB)
    with gunicorn_server(port, extra=["--threads", "4"]):
        s = requests.Session()
        assert s.post(f"{api}/users", json={"username": "erin", "password": "correct horse"},
                      timeout=TIMEOUT).status_code == 201
        laptop = s.post(f"{api}/tokens", auth=("erin", "correct horse"), timeout=TIMEOUT,
                        headers={"User-Agent": "laptop/1"}).json()
        phone = s.post(f"{api}/tokens", auth=("erin", "correct horse"), timeout=TIMEOUT,
                       headers={"User-Agent": "phone/1"}).json()
        # the phone's two tabs refresh at once with the same token: both stay logged in
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(
                lambda _: requests.post(f"{api}/tokens/refresh", timeout=TIMEOUT,
                                        headers=_bearer(phone["refresh_token"])), range(2)))
        assert [r.status_code for r in results] == [200, 200]
        assert results[0].json() == results[1].json()
        phone = results[0].json()
        sessions = s.get(f"{api}/users/me/sessions", headers=_bearer(laptop["access_token"]),
                         timeout=TIMEOUT).json()["items"]
        assert [(x["user_agent"], x["current"], x["address"]) for x in sessions] == [
            ("laptop/1", True, "127.0.0.1"), ("phone/1", False, "127.0.0.1")]
        # log out everywhere else, from the laptop
        r = s.delete(f"{api}/users/me/sessions", headers=_bearer(laptop["access_token"]),
                     timeout=TIMEOUT)
        assert r.status_code == 204
        r = s.get(f"{api}/todos", headers=_bearer(phone["access_token"]), timeout=TIMEOUT)
        assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
        # a password change keeps the caller's session
        r = s.put(f"{api}/users/me/password", headers=_bearer(laptop["access_token"]),
                  json={"current_password": "correct horse", "new_password": "battery staple"},
                  timeout=TIMEOUT)
        assert r.status_code == 204
        assert s.post(f"{api}/todos", json={"name": "x"}, headers=_bearer(laptop["access_token"]),
                      timeout=TIMEOUT).status_code == 201
        # deletion: the body on DELETE reaches the server; a wrong password is a 403
        r = s.delete(f"{api}/users/me", json={"password": "correct horse"},
                     headers=_bearer(laptop["access_token"]), timeout=TIMEOUT)
        assert r.status_code == 403 and r.json()["type"].endswith("/password-incorrect")
        r = s.delete(f"{api}/users/me", json={"password": "battery staple"},
                     headers=_bearer(laptop["access_token"]), timeout=TIMEOUT)
        assert r.status_code == 204
        assert s.get(f"{api}/todos", headers=_bearer(laptop["access_token"]),
                     timeout=TIMEOUT).status_code == 401
        assert s.post(f"{api}/users", json={"username": "erin", "password": "another one"},
                      timeout=TIMEOUT).status_code == 201
