"""An app with functions but no top-level FunctionApp: the worker finds nothing."""

import azure.functions as func


def make_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="hidden")
    def hidden(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("never served")

    return app


HELPER_NAME = "not an app"
