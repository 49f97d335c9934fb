"""An app whose function_app.py raises while being imported, after defining a function."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="fine")
def fine(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")


SETTINGS = {"region": "westus"}
REGION = SETTINGS["missing_setting_for_the_test"]
