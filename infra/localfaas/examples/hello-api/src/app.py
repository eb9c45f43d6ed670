"""Greets the name in the path: a REST API event (payload 1.0) and an HTTP API event (2.0) alike."""

import json


def hello(event, context):
    name = event["pathParameters"]["name"]
    version = event.get("version", "1.0")
    return {"statusCode": 200, "body": json.dumps({"hello": name, "payloadFormat": version})}
