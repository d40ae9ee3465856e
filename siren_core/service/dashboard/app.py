"""The dashboard application (mounted at ``/dashboard`` by
:func:`siren_core.service.app.create_app`): templates, static files, login and logout,
and the answers to a missing session (a redirect) or a refused write (403)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from siren_core.errors import NotFound, SirenError
from siren_core.kernel import Kernel
from siren_core.money import amount_text
from siren_core.service import operators
from siren_core.service.admin.guard import SESSION_COOKIE
from siren_core.service.admin.sessions import set_session_cookie
from siren_core.service.dashboard import actions, pages
from siren_core.service.dashboard.guard import LoginNeeded, PageRefused, Write

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["money"] = lambda amount, units: (
    "—" if amount is None else f"{amount_text(amount, units)} {units}")


def render(request: Request, template: str, status: int = 200, /,
           **context: Any) -> HTMLResponse:
    """A page, with the operator and the CSRF token of the request's session, if any."""
    token = request.cookies.get(SESSION_COOKIE)
    return templates.TemplateResponse(request, template, status_code=status, context={
        "base": request.scope.get("root_path", ""),
        "operator": getattr(request.state, "operator", None),
        "csrf": operators.csrf_token(token) if token else "", **context})


def create_dashboard(kernel: Kernel) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.kernel = kernel
    app.state.render = render
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginNeeded)
    async def _login(request: Request, _exc: LoginNeeded) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/login", 303)

    @app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> Response:
        return render(request, "error.html", exc.status, message=str(exc))

    @app.exception_handler(NotFound)
    async def _missing(request: Request, exc: NotFound) -> Response:
        return render(request, "error.html", 404, message=str(exc))

    @app.exception_handler(SirenError)
    async def _refused_input(request: Request, exc: SirenError) -> Response:
        return render(request, "error.html", 400, message=str(exc))

    _login_routes(app)
    app.include_router(pages.router)
    app.include_router(actions.router)
    return app


def _login_routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> HTMLResponse:
        return render(request, "login.html")

    @app.post("/login", response_model=None)
    async def login(request: Request, name: str = Form(max_length=64),
                    password: str = Form(max_length=1024)) -> Response:
        kernel: Kernel = request.app.state.kernel
        try:
            opened = await run_in_threadpool(operators.log_in, kernel, name, password)
        except operators.LoginThrottled as exc:
            return render(request, "login.html", 429, error=str(exc), name=name)
        except operators.LoginRefused as exc:
            return render(request, "login.html", 401, error=str(exc), name=name)
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/", 303)
        set_session_cookie(request, response, opened, kernel)
        return response

    @app.post("/logout")
    def logout(request: Request, _session: Write) -> Response:
        operators.log_out(request.app.state.kernel, request.cookies[SESSION_COOKIE])
        response = RedirectResponse(f"{request.scope.get('root_path', '')}/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response
