"""Generated protobuf and gRPC stubs of proto/ (hack/proto/generate.py). Do not edit."""
