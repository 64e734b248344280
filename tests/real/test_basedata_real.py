"""Base data edited through the API (issue 14) against the sandbox Asterisk: an
IVR menu saved with ``PUT /api/v1/basedata/ivr`` serves the next real call of
the running ``ctidesk serve``, with no restart and no file edit."""
from __future__ import annotations

import httpx
import pytest

from tests.real.test_ivr_real import finished_call, number
from tests.realenv import call, serving

pytestmark = pytest.mark.asterisk


async def test_a_menu_saved_through_the_api_serves_the_next_real_call(ami, tmp_path):
    async with serving(ami, tmp_path) as srv:  # the quick menu: 1 support, 2 sales, 0 operator
        srv.add_user("root", role="admin")
        admin = await srv.desk("root", join_queues=False)
        doc = (await admin.get("/api/v1/basedata/ivr")).json()
        assert (doc["version"], doc["source"]) == (0, "file") and "5" not in doc["body"]["nodes"]["main"]["choices"]
        body = doc["body"]
        body["prompts"]["edited"] = {"zh-CN": "菜单已更新", "en": "The menu was updated"}
        body["nodes"]["edited"] = {"type": "play", "prompt": "edited", "next": "to_operator"}
        body["nodes"]["main"]["choices"]["5"] = "edited"
        async with httpx.AsyncClient(base_url=srv.base_url) as http:
            r = await http.put("/api/v1/basedata/ivr", json={"version": 0, "body": body, "comment": "key 5"},
                               headers=admin.headers)
        assert r.status_code == 200, r.text
        caller = number()
        await call(ami, caller, dtmf="5", hold=8)
        row = await finished_call(admin, caller)
        assert [s["node"] for s in row["ivr_path"]][:3] == ["welcome", "main", "edited"], row["ivr_path"]
        assert row["queue"] == "operator"
        log = srv.tail(400)
        assert "IVR menu from database v1 now serving" in log and "Traceback" not in log, log
        await admin.close()
