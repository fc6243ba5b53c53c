from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class AuthSignature(_message.Message):
    __slots__ = ("challenge_token", "signature")
    CHALLENGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    challenge_token: str
    signature: bytes
    def __init__(self, challenge_token: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...
