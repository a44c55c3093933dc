"""A small Mesos framework over the v1 scheduler HTTP API, for the tests.

`mesos-execute` refuses the REVOCABLE_RESOURCES capability, so the
end-to-end test uses this scheduler to be offered revocable cpus and to
launch best-effort tasks on them. It speaks the API as documented for Mesos
1.x (POST /api/v1/scheduler, JSON bodies; the SUBSCRIBE response is a
RecordIO stream of events, "<length>\\n<json>"): subscribe with
REVOCABLE_RESOURCES, keep the latest offers, launch command tasks (the
command executor) on resources cut from an offer, acknowledge every status
update, decline, tear down.

Standard library only. Every wait is bounded by a deadline.
"""

import http.client
import json
import queue
import threading
import time


class SchedulerError(Exception):
    """The master refused a call, or the event stream broke."""


class Scheduler:
    """One framework subscribed to one master."""

    def __init__(self, master, name="serenity-e2e", user="root", log=print):
        host, port = master.split(":")
        self.host = host
        self.port = int(port)
        self.name = name
        self.user = user
        self.log = log
        self.framework_id = None
        self.stream_id = None
        self.offers = {}  # offer id -> offer (the latest not yet used)
        self.statuses = {}  # task id -> list of TaskStatus, in arrival order
        self.events = queue.Queue()  # every event, for tests that want them
        self.rescinded = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._reader = None
        self._conn = None
        self._closed = False
        self.error = None

    # --- the event stream -------------------------------------------------

    def subscribe(self, timeout=30.0):
        """Subscribes (with REVOCABLE_RESOURCES) and waits for SUBSCRIBED."""
        body = {
            "type": "SUBSCRIBE",
            "subscribe": {
                "framework_info": {
                    "user": self.user,
                    "name": self.name,
                    "roles": ["*"],
                    "capabilities": [
                        {"type": "REVOCABLE_RESOURCES"},
                        {"type": "MULTI_ROLE"},
                    ],
                    "failover_timeout": 0,
                }
            },
        }
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.request(
            "POST",
            "/api/v1/scheduler",
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        response = conn.getresponse()
        if response.status != 200:
            raise SchedulerError(
                "SUBSCRIBE answered %d: %s" % (response.status, response.read()[:500])
            )
        self.stream_id = response.getheader("Mesos-Stream-Id")
        self._conn = conn
        self._reader = threading.Thread(
            target=self._read_events, args=(response,), daemon=True
        )
        self._reader.start()
        self.wait_for(lambda: self.framework_id is not None, timeout, "SUBSCRIBED")
        return self.framework_id

    def _read_events(self, response):
        try:
            while not self._closed:
                line = response.readline()
                if not line:
                    raise SchedulerError("the master closed the event stream")
                length = int(line.strip())
                record = response.read(length)
                self._on_event(json.loads(record))
        except Exception as exc:  # noqa: BLE001 - reported through self.error
            with self._changed:
                if not self._closed:
                    self.error = "event stream: %s" % exc
                self._changed.notify_all()

    def _on_event(self, event):
        kind = event.get("type")
        self.events.put(event)
        with self._changed:
            if kind == "SUBSCRIBED":
                self.framework_id = event["subscribed"]["framework_id"]["value"]
            elif kind == "OFFERS":
                for offer in event["offers"].get("offers", []):
                    self.offers[offer["id"]["value"]] = offer
            elif kind == "RESCIND":
                self.rescinded += 1
                self.offers.pop(event["rescind"]["offer_id"]["value"], None)
            elif kind == "UPDATE":
                status = event["update"]["status"]
                status["_received"] = time.time()
                self.statuses.setdefault(status["task_id"]["value"], []).append(status)
            elif kind == "ERROR":
                self.error = "master: %s" % event.get("error", {}).get("message")
            elif kind == "FAILURE":
                self.log("scheduler: FAILURE event %s" % json.dumps(event["failure"]))
            self._changed.notify_all()
        if kind == "UPDATE":
            status = event["update"]["status"]
            if "uuid" in status:
                self.call(
                    "ACKNOWLEDGE",
                    {
                        "acknowledge": {
                            "agent_id": status["agent_id"],
                            "task_id": status["task_id"],
                            "uuid": status["uuid"],
                        }
                    },
                )

    def wait_for(self, predicate, timeout, what):
        """Waits (bounded) until predicate() holds under the lock."""
        deadline = time.time() + timeout
        with self._changed:
            while not predicate():
                if self.error:
                    raise SchedulerError("%s while waiting for %s" % (self.error, what))
                left = deadline - time.time()
                if left <= 0:
                    raise SchedulerError("timed out after %.0f s waiting for %s" % (timeout, what))
                self._changed.wait(min(left, 0.5))

    # --- calls ------------------------------------------------------------

    def call(self, kind, payload=None):
        """Sends one call on its own connection; raises unless 202."""
        body = {"framework_id": {"value": self.framework_id}, "type": kind}
        body.update(payload or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            conn.request(
                "POST",
                "/api/v1/scheduler",
                body=json.dumps(body),
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Mesos-Stream-Id": self.stream_id or "",
                },
            )
            response = conn.getresponse()
            text = response.read()
            if response.status != 202:
                raise SchedulerError("%s answered %d: %s" % (kind, response.status, text[:500]))
        finally:
            conn.close()

    def take_offers(self, want, timeout, what):
        """Waits until the offers held satisfy want(offers) (a list, all of
        one agent); removes and returns them. One ACCEPT may use several
        offers of an agent: the master offers revocable resources apart
        from the rest when they appear."""
        found = {}

        def pick():
            by_agent = {}
            for offer in self.offers.values():
                by_agent.setdefault(offer["agent_id"]["value"], []).append(offer)
            for offers in by_agent.values():
                if want(offers):
                    for offer in offers:
                        self.offers.pop(offer["id"]["value"], None)
                    found["offers"] = offers
                    return True
            return False

        self.wait_for(pick, timeout, what)
        return found["offers"]

    def give_back(self, offers):
        """Keeps offers taken with take_offers for later use."""
        with self._lock:
            for offer in offers:
                self.offers[offer["id"]["value"]] = offer

    def decline_all(self, refuse_seconds=1.0):
        """Declines every offer held (so the master re-offers soon)."""
        with self._lock:
            ids = [{"value": oid} for oid in self.offers]
            self.offers.clear()
        if ids:
            self.call(
                "DECLINE",
                {"decline": {"offer_ids": ids, "filters": {"refuse_seconds": refuse_seconds}}},
            )

    def launch(self, offers, task_id, command, cpus, mem, revocable_cpus=False):
        """Launches one command task on `offers` (one agent's), declining the
        rest of them.

        cpus come from the offers' revocable cpus when revocable_cpus, else
        from their non-revocable ones; mem always from non-revocable mem.
        The resources copy the offer's (allocation info included)."""
        resources = []
        for name, amount, revocable in (("cpus", cpus, revocable_cpus), ("mem", mem, False)):
            source = None
            for offer in offers:
                candidate = pick_resource(offer, name, revocable)
                if candidate is not None and candidate["scalar"]["value"] + 1e-9 >= amount:
                    source = candidate
                    break
            if source is None:
                raise SchedulerError(
                    "offers %s have no %s%s of %s" % (
                        [o["id"]["value"] for o in offers], name,
                        " (revocable)" if revocable else "", amount)
                )
            piece = json.loads(json.dumps(source))
            piece["scalar"]["value"] = amount
            resources.append(piece)
        task = {
            "name": task_id,
            "task_id": {"value": task_id},
            "agent_id": offers[0]["agent_id"],
            "resources": resources,
            "command": {"shell": True, "value": command},
        }
        self.call(
            "ACCEPT",
            {
                "accept": {
                    "offer_ids": [o["id"] for o in offers],
                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                    "filters": {"refuse_seconds": 1.0},
                }
            },
        )

    def states(self, task_id):
        """The states received for a task, in order."""
        with self._lock:
            return [s["state"] for s in self.statuses.get(task_id, [])]

    def last_status(self, task_id):
        with self._lock:
            got = self.statuses.get(task_id, [])
            return dict(got[-1]) if got else None

    def wait_state(self, task_id, states, timeout):
        """Waits until the task's latest state is one of `states`."""
        self.wait_for(
            lambda: bool(self.statuses.get(task_id))
            and self.statuses[task_id][-1]["state"] in states,
            timeout,
            "task %s to reach %s" % (task_id, "/".join(states)),
        )
        return self.last_status(task_id)

    def teardown(self):
        """Tears the framework down (kills its tasks) and closes the stream."""
        if self.framework_id is not None:
            try:
                self.call("TEARDOWN")
            except Exception as exc:  # noqa: BLE001 - teardown is best effort
                self.log("scheduler: TEARDOWN failed: %s" % exc)
        self._closed = True
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass


def pick_resource(offer, name, revocable):
    """The offer's unreserved scalar resource `name`, revocable or not."""
    for resource in offer.get("resources", []):
        if resource.get("name") != name or resource.get("type") != "SCALAR":
            continue
        if ("revocable" in resource) != revocable:
            continue
        if resource.get("reservations") or resource.get("reservation"):
            continue
        return resource
    return None


def scalar(offers, name, revocable):
    """The most of `name` (revocable or not) that one of the offers holds."""
    best = 0.0
    for offer in offers:
        resource = pick_resource(offer, name, revocable)
        if resource:
            best = max(best, resource["scalar"]["value"])
    return best
