"""greenlight's local AWS emulation: moto in server mode, extended where greenlight needs AWS's
documented behaviour that moto lacks (CodeDeploy's ECS blue/green lifecycle, Lambda invocations
forwarded to real function processes, CloudWatch's RPCv2 CBOR protocol), plus a local load
balancer data plane. Everything binds to 127.0.0.1."""

ACCOUNT_ID = "123456789012"
