"""The Python peer of a greenlight function's cold start (`cargo xtask bench`).

The floor of any Python implementation of the function: the interpreter starts, imports boto3,
creates the AWS clients the function creates (named on the command line), and asks the Lambda
Runtime API for its first event. The benchmark's runtime-API host records when that request
arrives and reads the process's peak RSS there.
"""

import os
import sys
import urllib.request

import boto3

session = boto3.session.Session()
clients = [session.client(name) for name in sys.argv[1:]]
urllib.request.urlopen(f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation/next")
