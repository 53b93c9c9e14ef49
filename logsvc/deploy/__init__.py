"""Deploying the service with CloudFormation: the template, the Lambda zip, the artifact bucket, the stack.

Core code only (no terminal output); the `deploy`, `diff`, `outputs` and `destroy` commands live in
`logsvc.cli.deploy`. botocore is imported by the modules that talk to AWS, and only when called.
"""
