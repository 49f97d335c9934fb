"""An app with two functions of the same name: indexing fails as a whole."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name("same_name")
@app.route(route="one")
def one(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")


@app.function_name("same_name")
@app.route(route="two")
def two(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")
