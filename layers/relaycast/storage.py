"""The one table: keys, item kinds and the conditional writes that keep every promise.

Item layout is documented in docs/ARCHITECTURE.md. Conditional writes, not reads, decide races: a state
is consumed once, a post is stored once, a proposal is approved once, a relay's cap cannot be passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from relaycast import aws, clock

GSI_BY_KIND = "by_kind"
# A sliding budget is counted in buckets of 1/24 of its window (an hour of X's 24 hours)...
SLIDING_BUCKETS = 24
# ... with one item per budget, written only if nobody else wrote it since it was read.
SLIDING_ATTEMPTS = 8


def relay_pk(relay_id: str) -> str:
    return f"RELAY#{relay_id}"


def grant_sk(network: str) -> str:
    return f"GRANT#{network}"


def proposal_sk(network: str, post_id: str) -> str:
    return f"PROPOSAL#{network}#{post_id}"


def ledger_sk(network: str, post_id: str) -> str:
    return f"LEDGER#{network}#{post_id}"


def receipt_sk(network: str, grant_id: str) -> str:
    """Receipts are per grant: a relay who revokes and comes back gets a new grant, a new end and a new receipt."""
    return f"RECEIPT#{network}#{grant_id}"


def link_key(relay_id: str) -> dict[str, str]:
    """The relay's dashboard-link generation: a link signed for an older one no longer opens the dashboard."""
    return {"pk": relay_pk(relay_id), "sk": "LINK"}


#: The event's visibility so far: relays who carried it, posts made in their names, the reach of those posts.
VISIBILITY_KEY = {"pk": "EVENT", "sk": "VISIBILITY"}


def carried_key(relay_id: str) -> dict[str, str]:
    """Written once, at a relay's first published post: the event's count of relays who carried it counts them once."""
    return {"pk": relay_pk(relay_id), "sk": "CARRIED"}


def confirmation_key(confirmation_id: str) -> dict[str, str]:
    return {"pk": f"CONFIRM#{confirmation_id}", "sk": "CONFIRM"}


def seats_key(network: str) -> dict[str, str]:
    """How many grants of a network hold one of the seats it can serve (counted on a network that has a limit)."""
    return {"pk": f"SEATS#{network}", "sk": "SEATS"}


def custody_key(grant_id: str) -> dict[str, str]:
    return {"pk": f"CUSTODY#{grant_id}", "sk": "CUSTODY"}


class NoSeat(Exception):
    """Every seat of the network is taken: the grant was not saved."""


class GrantConflict(Exception):
    """The relay's stored grant of that network is another account's, or is being ended."""

    def __init__(self, stored: dict[str, Any]):
        super().__init__("the stored grant belongs to another account or is ending")
        self.stored = stored


def is_condition_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in ("ConditionalCheckFailedException", "TransactionCanceledException")


def plain(value: Any) -> Any:
    """DynamoDB's Decimals and Binaries as plain Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "value") and type(value).__name__ == "Binary":
        return bytes(value.value)
    return value


class Store:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self.table = aws.table(table_name)

    # --- generic -------------------------------------------------------------------------------
    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def _conditional(self, operation: str, **request: Any) -> dict[str, Any] | None:
        """Run a conditional write (`put_item`, `update_item`, `delete_item`): its response, or None when the
        condition refused it (the item was not as expected: a race lost, a state already moved on)."""
        try:
            return getattr(self.table, operation)(**request)
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise

    def put_new(self, item: dict[str, Any]) -> bool:
        """Write an item that must not exist yet; False when it already did."""
        return self._conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)") is not None

    def query(self, pk: str, prefix: str | None = None, filter_expression: Any = None) -> Iterator[dict[str, Any]]:
        condition = Key("pk").eq(pk)
        if prefix:
            condition &= Key("sk").begins_with(prefix)
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        if filter_expression is not None:
            kwargs["FilterExpression"] = filter_expression
        yield from self._pages(kwargs)

    def of_kind(
        self, kind: str, *, page_size: int | None = None, fields: tuple[str, ...] | None = None, filter_expression: Any = None
    ) -> Iterator[dict[str, Any]]:
        """Items of one kind through the GSI, page by page (`page_size` items per query, when given);
        `fields` projects each item to those attributes only."""
        kwargs: dict[str, Any] = {"IndexName": GSI_BY_KIND, "KeyConditionExpression": Key("kind").eq(kind)}
        if filter_expression is not None:
            kwargs["FilterExpression"] = filter_expression
        if page_size:
            kwargs["Limit"] = page_size
        if fields:
            kwargs["ProjectionExpression"] = ", ".join(f"#f{i}" for i in range(len(fields)))
            kwargs["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(fields)}
        yield from self._pages(kwargs)

    def _pages(self, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item a query matches, one page at a time."""
        while True:
            page = self.table.query(**kwargs)
            yield from (plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    def delete(self, pk: str, sk: str) -> None:
        self.table.delete_item(Key={"pk": pk, "sk": sk})

    # --- OAuth state (single use, short-lived) --------------------------------------------------
    def put_state(self, state: str, attributes: dict[str, Any], ttl_seconds: int = 600) -> None:
        expires = clock.epoch() + ttl_seconds
        self.put_new({"pk": f"STATE#{state}", "sk": "STATE", "kind": "state", "expires_at": expires, **attributes})

    def take_state(self, state: str) -> dict[str, Any] | None:
        """Consume a state: the delete is the single-use check; an expired one is as good as gone."""
        taken = self._conditional("delete_item", Key={"pk": f"STATE#{state}", "sk": "STATE"},
                                  ConditionExpression="attribute_exists(pk)", ReturnValues="ALL_OLD")
        if taken is None:
            return None
        item = plain(taken["Attributes"])
        return item if item["expires_at"] > clock.epoch() else None

    # --- grants ---------------------------------------------------------------------------------
    def save_grant(self, grant: dict[str, Any], seats: int | None = None) -> str | None:
        """Create or replace a relay's grant of a network; a reconnect, or a return after a revoke, keeps what was
        already published counted.

        A grant is never overwritten by another identity (the same account only, `user_id`), and a grant being
        ended is not revived. With `seats`, a new grant takes one of the network's seats in the same transaction
        (NoSeat when all are taken: nothing saved); a replaced one keeps its own. Returns the grant id it replaced
        (whose tokens the caller must end), if any; raises GrantConflict when the stored grant is another
        account's or is ending.
        """
        keys = {"pk": relay_pk(grant["relay_id"]), "sk": grant_sk(grant["network"])}
        fields = {k: v for k, v in grant.items() if k not in ("pk", "sk", "published_count")}
        fields["kind"] = "grant"
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": v for k, v in fields.items()}
        sets = ", ".join(f"#{k} = :{k}" for k in fields)
        # A relay back after a revoke starts from what they already used: the cap is per relay, not per grant.
        used = sum(1 for item in self.relay_items(grant["relay_id"], f"LEDGER#{grant['network']}#") if item["status"] != "skipped")
        same = "#status <> :ending AND "
        same += "(#user_id = :user_id)" if "user_id" in fields else "attribute_not_exists(#user_id)"
        update = {
            "Key": keys,
            "UpdateExpression": f"SET {sets}, published_count = if_not_exists(published_count, :used)",
            "ExpressionAttributeNames": {**names, "#status": "status", "#user_id": "user_id"},
            "ExpressionAttributeValues": {**values, ":used": used, ":ending": "ending"},
        }
        for _ in range(2):  # a concurrent first save of the same grant turns the creation into a replacement
            if seats is None:
                condition = f"attribute_not_exists(pk) OR ({same})"
            elif self.grant(grant["relay_id"], grant["network"]) is None:
                if self._create_seated(update, seats):
                    return None
                continue
            else:
                condition = f"attribute_exists(pk) AND {same}"
            old = self._conditional("update_item", **update, ConditionExpression=condition, ReturnValues="UPDATED_OLD")
            if old is None:
                stored = self.grant(grant["relay_id"], grant["network"])
                if stored is None and seats is not None:
                    continue  # ended meanwhile: a new grant, which needs a seat
                raise GrantConflict(stored or {})
            replaced = old.get("Attributes", {}).get("grant_id")
            return replaced if replaced and replaced != grant.get("grant_id") else None
        raise GrantConflict(self.grant(grant["relay_id"], grant["network"]) or {})

    def _create_seated(self, update: dict[str, Any], seats: int) -> bool:
        """Save a new grant together with one of its network's seats: False when the grant exists by now; NoSeat
        when every seat is taken."""
        network = update["ExpressionAttributeValues"][":network"]
        try:
            self.table.meta.client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name, "Key": update["Key"],
                    "UpdateExpression": update["UpdateExpression"], "ConditionExpression": "attribute_not_exists(pk)",
                    # Only what the update itself names: the replacement's condition is not this one.
                    "ExpressionAttributeNames": {k: v for k, v in update["ExpressionAttributeNames"].items()
                                                 if f"{k} =" in update["UpdateExpression"]},
                    "ExpressionAttributeValues": {k: v for k, v in update["ExpressionAttributeValues"].items()
                                                  if f"= {k}" in update["UpdateExpression"] or f", {k})" in update["UpdateExpression"]},
                }},
                {"Update": {
                    "TableName": self.table_name, "Key": seats_key(network),
                    "UpdateExpression": "ADD taken :one SET kind = :kind",
                    "ConditionExpression": "attribute_not_exists(taken) OR taken < :seats",
                    "ExpressionAttributeValues": {":one": 1, ":kind": "seats", ":seats": seats},
                }},
            ])
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
        if self.grant(update["ExpressionAttributeValues"][":relay_id"], network) is not None:
            return False
        raise NoSeat(network)

    def seats_taken(self, network: str) -> int:
        item = self.get(**seats_key(network))
        return int(item.get("taken", 0)) if item else 0

    def grant(self, relay_id: str, network: str) -> dict[str, Any] | None:
        return self.get(relay_pk(relay_id), grant_sk(network))

    def grants(self, *, page_size: int | None = None, fields: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        return self.of_kind("grant", page_size=page_size, fields=fields)

    def set_relay_fields(self, relay_id: str, remove: tuple[str, ...] = (), **fields: Any) -> bool:
        """Set fields on every grant of a relay (their e-mail is one); False when they have none left."""
        grants = self.relay_items(relay_id, "GRANT#")
        for grant in grants:
            update = "SET " + ", ".join(f"#{k} = :{k}" for k in fields)
            if remove:
                update += " REMOVE " + ", ".join(f"#{k}" for k in remove)
            self.table.update_item(
                Key={"pk": grant["pk"], "sk": grant["sk"]},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={f"#{k}": k for k in (*fields, *remove)},
                ExpressionAttributeValues={f":{k}": v for k, v in fields.items()},
            )
        return bool(grants)

    def set_grant_status(self, relay_id: str, network: str, status: str, grant_id: str | None = None) -> None:
        """Pause, resume, or mark as ending (only the grant `grant_id`, when given); a grant being ended (or gone)
        keeps its state."""
        only = " AND grant_id = :g" if grant_id else ""
        self._conditional(
            "update_item",
            Key={"pk": relay_pk(relay_id), "sk": grant_sk(network)},
            UpdateExpression="SET #s = :new",
            ConditionExpression="#s IN (:active, :paused)" + only,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":new": status, ":active": "active", ":paused": "paused",
                                       **({":g": grant_id} if grant_id else {})},
        )

    def lower_cap(self, relay_id: str, network: str, cap: int) -> None:
        """A relay may only lower their cap: the condition keeps a stale form from raising it."""
        self._conditional(
            "update_item",
            Key={"pk": relay_pk(relay_id), "sk": grant_sk(network)},
            UpdateExpression="SET cap = :cap",
            ConditionExpression="attribute_exists(pk) AND cap > :cap",
            ExpressionAttributeValues={":cap": cap},
        )

    def delete_grant(self, relay_id: str, network: str, grant_id: str | None) -> None:
        """Delete the relay's grant of a network only if it is still this one (a reconnect may have replaced it);
        its seat, if its network counts them, is given back in the same transaction."""
        seat = self.get(**seats_key(network))
        delete = {"Delete": {
            "TableName": self.table_name, "Key": {"pk": relay_pk(relay_id), "sk": grant_sk(network)},
            "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(grant_id) OR grant_id = :g)",
            "ExpressionAttributeValues": {":g": grant_id or ""},
        }}
        give_back = {"Update": {
            "TableName": self.table_name, "Key": seats_key(network),
            "UpdateExpression": "ADD taken :minus", "ExpressionAttributeValues": {":minus": -1},
        }}
        try:
            self.table.meta.client.transact_write_items(TransactItems=[delete, *([give_back] if seat else [])])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            # Gone already, or another grant now: nothing of this one is left to delete.

    # --- dashboard links: one generation per relay ---------------------------------------------
    def link_generation(self, relay_id: str) -> int:
        """The relay's current dashboard-link generation (0 until the relay asks for a new link)."""
        item = self.get(**link_key(relay_id))
        return int(item["generation"]) if item else 0

    def next_link_generation(self, relay_id: str, expires_at: int) -> int:
        """Move the relay to a new link generation (atomically: two clicks make two generations, never one twice);
        returns it. Every link signed for an earlier generation is refused from now on."""
        attributes = self.table.update_item(
            Key=link_key(relay_id),
            UpdateExpression="ADD generation :one SET kind = :kind, expires_at = :expires",
            ExpressionAttributeValues={":one": 1, ":kind": "link", ":expires": expires_at},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]
        return int(attributes["generation"])

    def claim_link_resend(self, relay_id: str, generation: int, expires_at: int) -> bool:
        """One mail of the current link per generation, whoever asks: True for the one caller that may send it."""
        current = "attribute_not_exists(generation)" if generation == 0 else "generation = :g"
        return self._conditional(
            "update_item",
            Key=link_key(relay_id),
            UpdateExpression="SET #resent = :g, kind = :kind, expires_at = if_not_exists(expires_at, :expires)",
            ConditionExpression=f"{current} AND (attribute_not_exists(#resent) OR #resent <> :g)",
            ExpressionAttributeNames={"#resent": "resent_generation"},
            ExpressionAttributeValues={":g": generation, ":kind": "link", ":expires": expires_at},
        ) is not None

    # --- confirmations: a network account waiting to be linked to a dashboard -------------------
    def put_confirmation(self, confirmation_id: str, attributes: dict[str, Any], expires_at: int) -> None:
        if not self.put_new({**confirmation_key(confirmation_id), "kind": "confirmation", "expires_at": expires_at, **attributes}):
            raise RuntimeError("confirmation id already in use")

    def confirmation(self, confirmation_id: str) -> dict[str, Any] | None:
        """A pending confirmation, unless its time is over (the TTL may lag)."""
        item = self.get(**confirmation_key(confirmation_id))
        return item if item and int(item["expires_at"]) > clock.epoch() else None

    def take_confirmation(self, confirmation_id: str) -> dict[str, Any] | None:
        """Consume a confirmation (single use: a concurrent second answer gets None)."""
        taken = self._conditional("delete_item", Key=confirmation_key(confirmation_id),
                                  ConditionExpression="attribute_exists(pk)", ReturnValues="ALL_OLD")
        if taken is None:
            return None
        item = plain(taken["Attributes"])
        return item if int(item["expires_at"]) > clock.epoch() else None

    # --- identities: a verified network account names one relay --------------------------------
    def identity_relay(self, network: str, instance: str | None, user_id: str) -> str | None:
        """The relay a verified account is mapped to already, if any (a read: maps nothing)."""
        item = self.get(f"IDENTITY#{network}#{instance or ''}#{user_id}", "IDENTITY")
        return str(item["relay_id"]) if item else None

    def relay_of_identity(self, network: str, instance: str | None, user_id: str, new_relay_id: str, expires_at: int) -> str:
        """The relay a verified account (network, instance, account id) belongs to: the one already mapped, else
        `new_relay_id`, mapped now (conditionally: two first connects of one account agree on one relay)."""
        key = {"pk": f"IDENTITY#{network}#{instance or ''}#{user_id}", "sk": "IDENTITY"}
        if self.put_new({**key, "kind": "identity", "relay_id": new_relay_id, "expires_at": expires_at}):
            return new_relay_id
        item = self.get(**key)
        if item is None:
            raise RuntimeError("identity mapping vanished while it was read")
        return str(item["relay_id"])

    # --- custody: every token relaycast holds, sealed, under its grant id ------------------------
    def put_custody(self, item: dict[str, Any]) -> None:
        """Record tokens just received (before anything else can fail); a grant id is used once."""
        if not self.put_new({**custody_key(item["grant_id"]), "kind": "custody", **item}):
            raise RuntimeError("grant id already in use")

    def custody(self, grant_id: str) -> dict[str, Any] | None:
        return self.get(**custody_key(grant_id))

    def unadopted_custodies(self, *, page_size: int | None = None, fields: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        """Custody no grant has adopted (a failed or replaced connection, or one that stopped half-way): the
        ones with a TTL of their own. A grant's own custody is ended through the grant."""
        return self.of_kind("custody", page_size=page_size, fields=fields, filter_expression=Attr("expires_at").exists())

    def adopt_custody(self, grant_id: str) -> None:
        """The grant that names this custody is saved: the custody ends with it, and has no TTL of its own."""
        self.table.update_item(Key=custody_key(grant_id), UpdateExpression="REMOVE expires_at",
                               ConditionExpression="attribute_exists(pk)")

    def attach_custody(self, grant_id: str, relay_id: str) -> None:
        """Name the relay whose grant holds these tokens (known once the identity is verified)."""
        self.table.update_item(
            Key=custody_key(grant_id), UpdateExpression="SET relay_id = :r", ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":r": relay_id},
        )

    def orphan_custody(self, grant_id: str, expires_at: int) -> None:
        """Tokens no grant will name (a failed or replaced connection): they get a TTL of their own, so the stream
        backstop ends them even if every other path failed. A custody a grant names has none: the grant's has."""
        self._conditional(
            "update_item",
            Key=custody_key(grant_id), UpdateExpression="SET expires_at = :e", ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":e": expires_at},
        )

    def lock_refresh(self, grant_id: str, seen_expires_at: int, seconds: int) -> bool:
        """Take the grant's refresh lock, only while its tokens are still those the caller saw: one writer refreshes."""
        now = clock.epoch()
        return self._conditional(
            "update_item",
            Key=custody_key(grant_id),
            UpdateExpression="SET refresh_lock_until = :until",
            ConditionExpression="attribute_exists(pk) AND token_expires_at = :seen "
                                "AND (attribute_not_exists(refresh_lock_until) OR refresh_lock_until < :now)",
            ExpressionAttributeValues={":until": now + seconds, ":seen": seen_expires_at, ":now": now},
        ) is not None

    def unlock_refresh(self, grant_id: str) -> None:
        self.table.update_item(Key=custody_key(grant_id), UpdateExpression="REMOVE refresh_lock_until")

    def rotate_tokens(self, grant_id: str, blob: bytes, token_expires_at: int) -> bool:
        """Store the sealed tokens a refresh returned (with the ones they replace, retired until the end proves
        them dead), and release the lock. False when the custody is gone (ended meanwhile)."""
        return self._conditional(
            "update_item",
            Key=custody_key(grant_id),
            UpdateExpression="SET tokens = :t, token_expires_at = :e REMOVE refresh_lock_until",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":t": blob, ":e": token_expires_at},
        ) is not None

    def delete_custody(self, grant_id: str) -> None:
        self.table.delete_item(Key=custody_key(grant_id))

    # --- candidates and selections --------------------------------------------------------------
    def cursor(self, network: str) -> str | None:
        item = self.get("EVENT", f"CURSOR#{network}")
        return item.get("since_id") if item else None

    def set_cursor(self, network: str, since_id: str) -> None:
        self.table.put_item(Item={"pk": "EVENT", "sk": f"CURSOR#{network}", "kind": "cursor", "since_id": since_id})

    def source_session(self, network: str) -> bytes | None:
        """A source's sealed sign-in session (Bluesky's event account), kept between polls."""
        item = self.get("EVENT", f"SOURCE#{network}")
        return bytes(item["session"]) if item else None

    def set_source_session(self, network: str, blob: bytes | None) -> None:
        if blob is None:
            self.delete("EVENT", f"SOURCE#{network}")
        else:
            self.table.put_item(Item={"pk": "EVENT", "sk": f"SOURCE#{network}", "kind": "source_session", "session": blob})

    def add_candidate(self, item: dict[str, Any]) -> bool:
        return self.put_new({"pk": "CANDIDATE", "sk": f"{item['network']}#{item['post_id']}", "kind": "candidate", **item})

    def candidates(
        self, *, selected: bool | None = None, since: str | None = None, min_score: float | None = None
    ) -> list[dict[str, Any]]:
        """Candidates, optionally only the (un)selected ones, created since an ISO instant, above a score."""
        condition = None
        parts = []
        if selected is not None:
            parts.append(Attr("selected_round").exists() if selected else Attr("selected_round").not_exists())
        if since is not None:
            parts.append(Attr("created_at").gte(since))
        if min_score is not None:
            parts.append(Attr("score").gte(Decimal(str(min_score))))
        for part in parts:
            condition = part if condition is None else condition & part
        return list(self.query("CANDIDATE", filter_expression=condition))

    def post_ref(self, network: str, post_id: str) -> str:
        """What a network's client is given for a post: X's id; on Mastodon the status's URL, which the relay's
        own instance resolves (status ids are per instance); on Bluesky its strong reference (uri and cid)."""
        if network == "x":
            return post_id
        item = self.get("CANDIDATE", f"{network}#{post_id}") or {}
        return item.get("ref") or item.get("url") or post_id

    def mark_selected(self, network: str, post_id: str, round_id: str) -> bool:
        """Claim a candidate for a round; False if another round took it first."""
        return self._conditional(
            "update_item",
            Key={"pk": "CANDIDATE", "sk": f"{network}#{post_id}"},
            UpdateExpression="SET selected_round = :r",
            ConditionExpression="attribute_not_exists(selected_round)",
            ExpressionAttributeValues={":r": round_id},
        ) is not None

    # --- proposals, ledger, receipts ------------------------------------------------------------
    def claim_receipt(self, item: dict[str, Any], lease_seconds: int = 300) -> str:
        """Claim the right to end a grant: "claimed", "done" (ended already) or "busy" (another path is on it).

        The receipt is the claim. A claim whose lease ran out (its holder crashed or gave up) can be taken over.
        """
        now = clock.epoch()
        if self.put_new({**item, "status": "revoking", "lease_until": now + lease_seconds}):
            return "claimed"
        # Taking over keeps what the first claim recorded and fills in what it lacked (an e-mail address).
        fields = {k: v for k, v in item.items() if k not in ("pk", "sk", "status")}
        fill = "".join(f", #{k} = if_not_exists(#{k}, :{k})" for k in fields)
        try:
            self.table.update_item(
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression=f"SET lease_until = :lease{fill}",
                ConditionExpression="#status = :revoking AND lease_until < :now",
                ExpressionAttributeNames={"#status": "status", **{f"#{k}": k for k in fields}},
                ExpressionAttributeValues={
                    ":lease": now + lease_seconds,
                    ":revoking": "revoking",
                    ":now": now,
                    **{f":{k}": v for k, v in fields.items()},
                },
            )
            return "claimed"
        except ClientError as error:
            if not is_condition_failure(error):
                raise
        current = self.get(item["pk"], item["sk"]) or {}
        return "done" if current.get("status") == "done" else "busy"

    def receipts(self, relay_id: str, network: str | None = None) -> list[dict[str, Any]]:
        """A relay's receipts (one per grant that ended), oldest first."""
        items = self.relay_items(relay_id, f"RECEIPT#{network}#" if network else "RECEIPT#")
        return sorted(items, key=lambda r: r.get("started_at", ""))

    def record_verification(self, receipt_key: dict[str, str], verification: dict[str, str], confirmed: bool,
                            fingerprints: list[str]) -> None:
        """What the end proved, kept before the tokens are deleted, so a pass that takes over knows it."""
        self.table.update_item(Key=receipt_key, UpdateExpression="SET verification = :v, confirmed = :c, token_fingerprints = :f",
                               ExpressionAttributeValues={":v": verification, ":c": confirmed, ":f": fingerprints})

    def finish_receipt(self, receipt_key: dict[str, str], **fields: Any) -> None:
        """The end is over: the receipt is done, with what it proved and what the relay got (`fields`)."""
        fields = {**fields, "status": "done", "ended_at": clock.now().isoformat()}
        self.table.update_item(
            Key=receipt_key,
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames={f"#{k}": k for k in fields},
            ExpressionAttributeValues={f":{k}": v for k, v in fields.items()},
        )

    def release_claim(self, pk: str, sk: str) -> None:
        self.table.update_item(Key={"pk": pk, "sk": sk}, UpdateExpression="SET lease_until = :zero", ExpressionAttributeValues={":zero": 0})

    # --- quota budgets (fixed windows, counted atomically) -------------------------------------
    def take_quota(self, key: str, calls: int, window_seconds: int, sliding: bool = False) -> int:
        """Count one call against `key`'s budget of `calls` per window: 0 when taken, else the seconds until
        a call fits again or the platform's hold (`hold_quota`) lifts (nothing counted). Fixed windows, as most
        platforms count them; `sliding` for a platform whose window starts where relaycast cannot see."""
        if sliding:
            return self._take_sliding(key, calls, window_seconds)
        now = clock.epoch()
        start = now - now % window_seconds
        taken = self._conditional(
            "update_item",
            Key={"pk": f"QUOTA#{key}", "sk": str(start)},
            UpdateExpression="ADD used :one SET kind = :kind, expires_at = :expires",
            ConditionExpression="(attribute_not_exists(used) OR used < :calls) "
                                "AND (attribute_not_exists(held_until) OR held_until <= :now)",
            ExpressionAttributeValues={":one": 1, ":calls": calls, ":kind": "quota", ":now": now,
                                       ":expires": start + window_seconds + 86400},
        )
        if taken is not None:
            return 0
        window = self.get(f"QUOTA#{key}", str(start)) or {}  # only on the deferring path: why not now
        if int(window.get("held_until", 0)) > now and int(window.get("used", 0)) < calls:
            return int(window["held_until"]) - now
        return start + window_seconds - now

    def _sliding(self, key: str, window_seconds: int) -> tuple[dict[str, Any], dict[int, int], int, int]:
        """The sliding budget's item, its counts per bucket still in range, the current bucket and the bucket's
        length. The range is SLIDING_BUCKETS + 1 buckets back from the current one: it holds every window of
        `window_seconds` that ends now, wherever the platform started counting it."""
        bucket = window_seconds // SLIDING_BUCKETS
        now = clock.epoch()
        current = now - now % bucket
        item = self.get(f"QUOTA#{key}", "sliding") or {}
        oldest = current - SLIDING_BUCKETS * bucket
        counts = {int(b): int(n) for b, n in item.get("buckets", {}).items() if int(b) >= oldest and int(n) > 0}
        return item, counts, current, bucket

    def _take_sliding(self, key: str, calls: int, window_seconds: int) -> int:
        for _ in range(SLIDING_ATTEMPTS):  # another publish may count between the read and the write: read again
            item, counts, current, bucket = self._sliding(key, window_seconds)
            now = clock.epoch()
            if int(item.get("held_until", 0)) > now:
                return int(item["held_until"]) - now
            over = sum(counts.values()) - calls + 1
            if over > 0:  # full: a call fits once the oldest `over` calls have left the range
                for start in sorted(counts):
                    over -= counts[start]
                    if over <= 0:
                        return max(1, start + (SLIDING_BUCKETS + 1) * bucket - now)
            counts[current] = counts.get(current, 0) + 1
            version = int(item.get("version", 0))
            written = self._conditional(
                "put_item",
                Item={"pk": f"QUOTA#{key}", "sk": "sliding", "kind": "quota", "version": version + 1,
                      "buckets": {str(b): n for b, n in counts.items()},
                      **({"held_until": item["held_until"]} if "held_until" in item else {}),
                      "expires_at": current + window_seconds + bucket + 86400},
                ConditionExpression="attribute_not_exists(version) OR version = :version",
                ExpressionAttributeValues={":version": version},
            )
            if written is not None:
                return 0
        return 1  # contended all along: come back in a second

    def quota_room(self, key: str, calls: int, window_seconds: int, sliding: bool = False) -> int:
        """How many calls `key`'s budget would take now (0 while the platform's hold lasts)."""
        now = clock.epoch()
        if sliding:
            item, counts, _, _ = self._sliding(key, window_seconds)
            used = sum(counts.values())
        else:
            item = self.get(f"QUOTA#{key}", str(now - now % window_seconds)) or {}
            used = int(item.get("used", 0))
        return 0 if int(item.get("held_until", 0)) > now else max(0, calls - used)

    def take_quotas(self, budgets: list[tuple[Any, ...]]) -> tuple[int, str | None]:
        """One call of every budget `(key, calls, window_seconds[, sliding])`, or of none: `(0, None)` when all
        were taken, else the wait of the first one spent and its key (the budgets taken before it are given back)."""
        for i, (key, calls, window_seconds, *sliding) in enumerate(budgets):
            wait = self.take_quota(key, calls, window_seconds, *sliding)
            if wait:
                for taken_key, _, taken_window, *taken_sliding in budgets[:i]:
                    self.give_back_quota(taken_key, taken_window, *taken_sliding)
                return wait, key
        return 0, None

    def hold_quota(self, key: str, window_seconds: int, until: int, sliding: bool = False) -> None:
        """The platform answered 429 until `until`: nothing more is budgeted under `key` before then (its
        windows may not be ours). Marks each of our windows up to `until` (a sliding budget's one item)."""
        now = clock.epoch()
        if sliding:
            # A later hold may be there already: it stands. The version moves, so a take in between reads again.
            self._conditional(
                "update_item",
                Key={"pk": f"QUOTA#{key}", "sk": "sliding"},
                UpdateExpression="SET held_until = :until, kind = :kind, expires_at = :expires "
                                 "ADD version :one",
                ConditionExpression="attribute_not_exists(held_until) OR held_until < :until",
                ExpressionAttributeValues={":until": until, ":kind": "quota", ":one": 1,
                                           ":expires": until + window_seconds + 86400},
            )
            return
        start = now - now % window_seconds
        while start < until:
            # A later hold may be there already: it stands.
            self._conditional(
                "update_item",
                Key={"pk": f"QUOTA#{key}", "sk": str(start)},
                UpdateExpression="SET held_until = :until, kind = :kind, expires_at = :expires",
                ConditionExpression="attribute_not_exists(held_until) OR held_until < :until",
                ExpressionAttributeValues={":until": until, ":kind": "quota", ":expires": start + window_seconds + 86400},
            )
            start += window_seconds

    def give_back_quota(self, key: str, window_seconds: int, sliding: bool = False) -> None:
        now = clock.epoch()
        if sliding:
            bucket = window_seconds // SLIDING_BUCKETS
            # Counted in this bucket a moment ago (or in the one before, if it just turned): nothing below 0.
            for start in (now - now % bucket, now - now % bucket - bucket):
                if self._conditional(
                    "update_item",
                    Key={"pk": f"QUOTA#{key}", "sk": "sliding"},
                    UpdateExpression="ADD buckets.#b :minus, version :one",
                    ConditionExpression="buckets.#b > :zero",
                    ExpressionAttributeNames={"#b": str(start)},
                    ExpressionAttributeValues={":minus": -1, ":one": 1, ":zero": 0},
                ) is not None:
                    return
            return
        # The window may have turned meanwhile: then there is nothing to give back.
        self._conditional(
            "update_item",
            Key={"pk": f"QUOTA#{key}", "sk": str(now - now % window_seconds)},
            UpdateExpression="ADD used :minus",
            ConditionExpression="used > :zero",
            ExpressionAttributeValues={":minus": -1, ":zero": 0},
        )

    # --- parked jobs (waits longer than a queue's delay) -------------------------------------------------
    def park(self, lane: str, due: int, job: dict[str, str], body: str, expires_at: int) -> None:
        """Keep a job until `due` in its lane (the budget it waits for, or plain time); released in due order."""
        self.table.put_item(Item={"pk": f"PARKED#{lane}", "sk": f"{due:010d}#{job['relay_id']}#{job['network']}#{job['post_id']}",
                                  "kind": "parked", "due": due, "job": body, "expires_at": expires_at})

    def parked_due(self, lane: str, limit: int) -> list[dict[str, Any]]:
        """The lane's jobs due by now, earliest first; at most `limit` of them."""
        if limit <= 0:
            return []
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(f"PARKED#{lane}") & Key("sk").lt(f"{clock.epoch() + 1:010d}"),
                                  "ConsistentRead": True, "Limit": limit}
        due: list[dict[str, Any]] = []
        for item in self._pages(kwargs):
            due.append(item)
            if len(due) >= limit:
                break
        return due

    def unpark(self, items: list[dict[str, Any]]) -> None:
        with self.table.batch_writer() as batch:
            for item in items:
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})

    def claim_once(self, pk: str, sk: str, attribute: str) -> bool:
        """Stamp `attribute` with the time unless it is set already: True for the one caller that stamped it."""
        return self._conditional(
            "update_item",
            Key={"pk": pk, "sk": sk},
            UpdateExpression="SET #a = :now",
            ConditionExpression="attribute_not_exists(#a)",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":now": clock.now().isoformat()},
        ) is not None

    def unclaim(self, pk: str, sk: str, attribute: str) -> None:
        self.table.update_item(Key={"pk": pk, "sk": sk}, UpdateExpression="REMOVE #a", ExpressionAttributeNames={"#a": attribute})

    def relay_items(self, relay_id: str, prefix: str | None = None) -> list[dict[str, Any]]:
        return list(self.query(relay_pk(relay_id), prefix))

    def decide_proposal(self, relay_id: str, network: str, post_id: str, status: str) -> bool:
        """pending → approved|skipped, once; False when it was not pending (or has expired)."""
        return self._conditional(
            "update_item",
            Key={"pk": relay_pk(relay_id), "sk": proposal_sk(network, post_id)},
            UpdateExpression="SET #s = :s, decided_at = :now",
            ConditionExpression="#s = :pending AND proposal_expires_at > :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": status, ":pending": "pending", ":now": clock.epoch()},
        ) is not None

    def reopen_proposal(self, relay_id: str, network: str, post_id: str) -> None:
        self.table.update_item(
            Key={"pk": relay_pk(relay_id), "sk": proposal_sk(network, post_id)},
            UpdateExpression="SET #s = :pending REMOVE decided_at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":pending": "pending"},
        )

    def reserve_publish(self, relay_id: str, network: str, post_id: str, cap: int) -> str:
        """Reserve one of the relay's publishes for this post, atomically with its ledger record.

        Returns "reserved" (go ahead), "resume" (an earlier attempt reserved it and did not finish),
        "done" (already published or skipped), "cap" (the relay's cap is reached) or "inactive".
        """
        now = clock.now()
        ledger_key = {"pk": relay_pk(relay_id), "sk": ledger_sk(network, post_id)}
        try:
            self.table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": {
                                **ledger_key,
                                "kind": "ledger",
                                "relay_id": relay_id,
                                "network": network,
                                "post_id": post_id,
                                "status": "publishing",
                                "reserved_at": now.isoformat(),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": {"pk": relay_pk(relay_id), "sk": grant_sk(network)},
                            "UpdateExpression": "SET published_count = published_count + :one",
                            # The grant's own cap, not the caller's copy: a relay may lower it at any moment.
                            "ConditionExpression": "#s = :active AND published_count < cap",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":one": 1, ":active": "active"},
                        }
                    },
                ]
            )
            return "reserved"
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
        ledger = self.get(**ledger_key)
        if ledger:
            return "resume" if ledger["status"] == "publishing" else "done"
        grant = self.grant(relay_id, network)
        if not grant or grant.get("status") != "active":
            return "inactive"
        if grant.get("published_count", 0) >= int(grant.get("cap", cap)):
            return "cap"
        raise RuntimeError("publish reservation cancelled for an unknown reason; will retry")

    def finish_ledger(self, relay_id: str, network: str, post_id: str, **fields: Any) -> None:
        fields["finished_at"] = clock.now().isoformat()
        names = {f"#{k}": k for k in fields}
        values = {f":{k}": v for k, v in fields.items()}
        self.table.update_item(
            Key={"pk": relay_pk(relay_id), "sk": ledger_sk(network, post_id)},
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def mark_published(self, grant: dict[str, Any], post_id: str, *, expires_at: int, **fields: Any) -> bool:
        """A reserved relay-post published: its ledger says so (with the relay's followers at connect, its reach) and
        the event's visibility counts it, in one transaction, so a retry or a second pass counts nothing twice.
        False when the ledger was no longer reserved (another pass settled it)."""
        relay_id, network, followers = grant["relay_id"], grant["network"], grant.get("followers")
        self._count_carrier(relay_id, expires_at)
        fields = {**fields, "status": "published", "expires_at": expires_at,
                  **({"followers": followers} if followers is not None else {})}
        reach = {f"reach_{network}": followers} if followers is not None else {f"unknown_reach_{network}": 1}
        return self._finish_counted(relay_id, network, post_id, "publishing", fields, {f"posts_{network}": 1, **reach},
                                    expires_at)

    def mark_undone(self, relay_id: str, network: str, post_id: str, **fields: Any) -> None:
        """A published relay-post deleted from the network: no longer counted in the event's posts and reach (a
        second undo, a double click, counts nothing)."""
        followers = (self.get(relay_pk(relay_id), ledger_sk(network, post_id)) or {}).get("followers")
        reach = {f"reach_{network}": -followers} if followers is not None else {f"unknown_reach_{network}": -1}
        self._finish_counted(relay_id, network, post_id, "published", {**fields, "status": "undone"},
                             {f"posts_{network}": -1, **reach}, None)

    def _finish_counted(self, relay_id: str, network: str, post_id: str, was: str, fields: dict[str, Any],
                        counts: dict[str, int], expires_at: int | None) -> bool:
        """Move a ledger item on from status `was`, and the event's visibility by `counts`, in one transaction;
        False when the item was no longer `was` (nothing counted)."""
        fields = {**fields, "finished_at": clock.now().isoformat()}
        try:
            self.table.meta.client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": relay_pk(relay_id), "sk": ledger_sk(network, post_id)},
                    "UpdateExpression": "SET " + ", ".join(f"#{k} = :{k}" for k in fields),
                    "ConditionExpression": "#status = :was",
                    "ExpressionAttributeNames": {f"#{k}": k for k in fields},
                    "ExpressionAttributeValues": {**{f":{k}": v for k, v in fields.items()}, ":was": was},
                }},
                self._visibility_update(counts, expires_at),
            ])
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return False
        return True

    def _count_carrier(self, relay_id: str, expires_at: int) -> None:
        """A relay's first published post counts them among the relays who carried the event (once)."""
        if self.get(**carried_key(relay_id)) is not None:
            return
        try:
            self.table.meta.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table_name, "Item": {**carried_key(relay_id), "kind": "carried", "expires_at": expires_at},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                self._visibility_update({"relays": 1}, expires_at),
            ])
        except ClientError as error:
            if not is_condition_failure(error):
                raise

    def _visibility_update(self, counts: dict[str, int], expires_at: int | None) -> dict[str, Any]:
        update = "SET #kind = :kind"
        values: dict[str, Any] = {f":{k}": v for k, v in counts.items()} | {":kind": "visibility"}
        if expires_at is not None:
            update += ", expires_at = :expires_at"
            values[":expires_at"] = expires_at
        update += " ADD " + ", ".join(f"#{k} :{k}" for k in counts)
        return {"Update": {"TableName": self.table_name, "Key": VISIBILITY_KEY, "UpdateExpression": update,
                           "ExpressionAttributeNames": {f"#{k}": k for k in counts} | {"#kind": "kind"},
                           "ExpressionAttributeValues": values}}

    def visibility(self) -> dict[str, int]:
        """The event's visibility so far: `relays`, and per network `posts_<network>`, `reach_<network>` (their
        relays' followers, summed per post) and `unknown_reach_<network>` (posts by accounts whose followers the
        network does not tell)."""
        item = self.get(**VISIBILITY_KEY) or {}
        return {k: v for k, v in item.items() if k not in ("pk", "sk", "kind", "expires_at")}

    def record_skip(self, relay_id: str, network: str, post_id: str, reason: str, expires_at: int) -> bool:
        """A relay-post that ends without publishing, with its reason (written once)."""
        return self.put_new(
            {
                "pk": relay_pk(relay_id),
                "sk": ledger_sk(network, post_id),
                "kind": "ledger",
                "relay_id": relay_id,
                "network": network,
                "post_id": post_id,
                "status": "skipped",
                "reason": reason,
                "finished_at": clock.now().isoformat(),
                "expires_at": expires_at,
            }
        )

    def release_publish(self, relay_id: str, network: str, post_id: str, reason: str) -> None:
        """Give back a reservation that ended without publishing; the ledger says why."""
        try:
            self.table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": {"pk": relay_pk(relay_id), "sk": ledger_sk(network, post_id)},
                            "UpdateExpression": "SET #s = :skipped, reason = :r, finished_at = :now",
                            "ConditionExpression": "#s = :publishing",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":skipped": "skipped",
                                ":publishing": "publishing",
                                ":r": reason,
                                ":now": clock.now().isoformat(),
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": {"pk": relay_pk(relay_id), "sk": grant_sk(network)},
                            "UpdateExpression": "SET published_count = published_count - :one",
                            "ConditionExpression": "attribute_exists(pk) AND published_count > :zero",
                            "ExpressionAttributeValues": {":one": 1, ":zero": 0},
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            # The grant is gone (revoked meanwhile): still close the ledger record.
            self.finish_ledger(relay_id, network, post_id, status="skipped", reason=reason)


def without_none(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


__all__ = ["Attr", "GrantConflict", "NoSeat", "Store", "confirmation_key", "custody_key", "link_key", "is_condition_failure", "plain", "without_none"]
