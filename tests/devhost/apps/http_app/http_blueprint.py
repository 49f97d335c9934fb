"""HTTP functions declared on a func.Blueprint, registered by function_app.py."""

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="bp/hello/{name:alpha}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def bp_hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"blueprint says hello to {req.route_params['name']}")


@bp.route(route="bp/keyed", auth_level=func.AuthLevel.FUNCTION)
def bp_keyed(req: func.HttpRequest) -> func.HttpResponse:
    # No methods: every method is allowed.
    return func.HttpResponse("blueprint function-level route")
