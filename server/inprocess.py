"""A Flower Grid that runs the ClientApp in this process: small federated runs without starting Ray.

The ServerApp talks to it exactly as to Flower's simulation engine: the same Messages reach the same ClientApp
object, with one Context per node (its node_config partition-id and num-partitions, and a state that persists
across rounds). What Flower's simulation does on the way is done here too: a message is delivered as a copy
(Ray pickles it to the actor), a raising ClientApp becomes an error reply with Flower's code and reason, and
every message and reply gets a fresh message id. Results are those of the Ray backend bit for bit
(tests/server/test_inprocess.py, tests/e2e/test_inprocess_backend.py); nodes simply run one after another.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable

import numpy as np
from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.client_app import ClientAppException
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

RUN_ID = 1  # one run per grid, as in run_simulation
_FIRST_NODE_ID = SUPERLINK_NODE_ID + 1  # the SuperLink's own id is not a node's


class InProcessGrid(Grid):
    """`num_nodes` simulated SuperNodes, each running `client_app` when a message for it is pushed."""

    def __init__(self, client_app: ClientApp, num_nodes: int, seed: int = 0):
        self.client_app = client_app
        # random 63-bit ids like Flower's (never the partition id: the server learns partitions by QUERY);
        # seeded so that an audit of two runs sees the same ids
        rng = np.random.default_rng([seed, num_nodes])
        ids: dict[int, None] = {}  # in draw order, without repeats
        while len(ids) < num_nodes:
            ids.update(dict.fromkeys(int(i) for i in rng.integers(_FIRST_NODE_ID, 2 ** 63 - 1, num_nodes - len(ids))))
        self.contexts = {nid: Context(run_id=RUN_ID, node_id=nid, state=RecordDict(), run_config={},
                                      node_config={"partition-id": p, "num-partitions": num_nodes})
                         for p, nid in enumerate(ids)}
        self._replies: dict[str, Message] = {}  # by the id of the message they answer
        self._run = Run.create_empty(RUN_ID)

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message to its node's ClientApp now; the reply waits to be pulled."""
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid.uuid4())
            if message.metadata.dst_node_id not in self.contexts:
                raise ValueError(f"no node {message.metadata.dst_node_id} in this grid")
            reply = self._handle(copy.deepcopy(message))
            reply.metadata.__dict__["_message_id"] = str(uuid.uuid4())
            self._replies[message.metadata.message_id] = copy.deepcopy(reply)  # the server gets its own copy
            ids.append(message.metadata.message_id)
        return ids

    def _handle(self, message: Message) -> Message:
        """The ClientApp's reply, or the error reply Flower's simulation engine sends when it raises."""
        context = self.contexts[message.metadata.dst_node_id]
        try:
            return self.client_app(message=message, context=context)
        except Exception as ex:  # noqa: BLE001 - as Flower's engine: a raising ClientApp answers with an error
            wrapped = ClientAppException(str(ex))
            reason = str(type(wrapped)) + ":<'" + str(wrapped) + "'>"  # the reason text of flwr's vce_api worker
            return Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(mid) for mid in message_ids if mid in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        """Every reply is ready once pushed: no polling (Flower's grid sleeps 0.1 s between pulls)."""
        return self.pull_messages(self.push_messages(messages))


def run_in_process(server_app: ServerApp, client_app: ClientApp, num_nodes: int, seed: int = 0) -> None:
    """Run `server_app` against `num_nodes` nodes of `client_app`, all in this process (no Ray, no threads)."""
    grid = InProcessGrid(client_app, num_nodes, seed)
    # Message() reads the sender from Flower's process-wide identity, which run_simulation sets the same way
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, RUN_ID, SUPERLINK_NODE_ID
    server_app(grid, Context(run_id=RUN_ID, node_id=0, node_config={}, state=RecordDict(), run_config={}))
