#!/usr/bin/env python3
"""Small calls to a moto server for scripts/bench, made directly (not through a
recording proxy, so they are never counted) with the standard library only.

usage:
  moto.py wait URL SECONDS                 until moto answers (exit 1 after SECONDS)
  moto.py reset URL                        forget every resource (POST /moto-api/reset)
  moto.py put-secret URL NAME FILE         SSM SecureString NAME = FILE's first line
  moto.py get-secret URL NAME              print SSM SecureString NAME (exit 3 if missing)
  moto.py stack-status URL NAME            print the CloudFormation stack's status, or NONE

Region us-east-1, the default moto account; moto does not check signatures, the
credential scope only tells it which service is meant.
"""
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def auth(service):
    return (
        "AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/"
        f"{service}/aws4_request, SignedHeaders=host, Signature=0"
    )


def call(url, data=b"", headers=None, timeout=30):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def ssm(url, target, payload):
    headers = {
        "Authorization": auth("ssm"),
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"AmazonSSM.{target}",
    }
    return json.loads(call(url, json.dumps(payload).encode(), headers))


def main():
    command, url, *args = sys.argv[1:]
    url = url.rstrip("/")
    if command == "wait":
        deadline = time.monotonic() + float(args[0])
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).read()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        sys.exit(f"moto at {url} did not answer within {args[0]} s")
    elif command == "reset":
        call(f"{url}/moto-api/reset")
    elif command == "put-secret":
        name, path = args
        with open(path) as f:
            value = f.readline().rstrip("\n")
        ssm(url + "/", "PutParameter",
            {"Name": name, "Value": value, "Type": "SecureString", "Overwrite": True})
    elif command == "get-secret":
        try:
            reply = ssm(url + "/", "GetParameter", {"Name": args[0], "WithDecryption": True})
        except urllib.error.HTTPError as error:
            if b"ParameterNotFound" in error.read():
                sys.exit(3)
            raise
        print(reply["Parameter"]["Value"])
    elif command == "stack-status":
        body = urllib.parse.urlencode(
            {"Action": "DescribeStacks", "Version": "2010-05-15", "StackName": args[0]}
        ).encode()
        headers = {
            "Authorization": auth("cloudformation"),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        try:
            reply = call(url + "/", body, headers).decode()
        except urllib.error.HTTPError as error:
            if b"does not exist" in error.read():
                print("NONE")
                return
            raise
        match = re.search(r"<StackStatus>([A-Z_]+)</StackStatus>", reply)
        print(match.group(1) if match else "NONE")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
