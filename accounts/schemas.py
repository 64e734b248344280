"""Wire shapes of the accounts API."""
from __future__ import annotations

from pydantic import BaseModel, Field

from accounts.models import User


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str
    extension: str | None
    queues: list[str]
    phone: str = "local"  # local | sip | webrtc: the desk starts its softphone for webrtc

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(username=user.username, display_name=user.display_name, role=user.role,
                   extension=user.extension, queues=user.queue_list, phone=user.phone or "local")


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    user: UserOut
