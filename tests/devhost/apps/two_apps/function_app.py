"""An app that defines two top-level FunctionApp objects: the worker refuses it."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
other_app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="first")
def first(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")


@other_app.route(route="second")
def second(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")
