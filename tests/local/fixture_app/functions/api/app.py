"""A tiny Chalice app behind API Gateway (handler `app.app`)."""

import os
from urllib.parse import parse_qs

import boto3
from chalice import Chalice, NotFoundError

app = Chalice(app_name="fixture-api")


@app.route("/hello", methods=["GET"])
def hello():
    request = app.current_request
    return {
        "hello": request.query_params.get("name", "world") if request.query_params else "world",
        "stage": request.context["stage"],
        "host": request.headers.get("host"),
    }


@app.route("/items/{item_id}", methods=["GET"])
def get_item(item_id):
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["TABLE_NAME"], Key={"pk": {"S": f"ITEM#{item_id}"}, "sk": {"S": "ITEM"}}
    ).get("Item")
    if item is None:
        raise NotFoundError(f"no item {item_id}")
    return {"id": item_id, "name": item["name"]["S"]}


@app.route("/form", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
def form():
    fields = parse_qs(app.current_request.raw_body.decode())
    return {"fields": {k: v[0] for k, v in fields.items()}}
