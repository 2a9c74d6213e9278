#!/usr/bin/env python3
"""Writes a large policy and request file for measuring `portcullis check`.

    python3 tools/gen_large_policy.py --out /tmp/portcullis-large
    bazel build -c opt //tools:portcullis
    time bazel-bin/tools/portcullis check --policy /tmp/portcullis-large/policy.json \
        --requests /tmp/portcullis-large/requests.jsonl > /dev/null

Writes policy.json (a catalog of 40 object types, --roles roles with random
permission tables, --entities entities over --partners partners, credentials
with scopes and entity restrictions) and requests.jsonl (--requests lines: partner
and entity-user principals, with and without resources, a few unknown names so
every rule and failure is exercised). The output is deterministic for a seed.
Nothing it writes is meant to be committed.
"""

import argparse
import json
import os
import random

LEVELS = ["read", "write", "delete"]
PERMISSIONS = ["allowed", "allowed_for_own", "not_allowed"]


def catalog(rng):
    object_types = []
    for t in range(40):
        actions = [{"name": "read"}, {"name": "create"}, {"name": "update"},
                   {"name": "delete"}]
        for extra in range(rng.randrange(0, 4)):
            actions.append({"name": f"act{extra}"})
        object_type = {"name": f"type{t}", "actions": actions}
        if t == 0:
            actions[1]["partner_only"] = True
        object_types.append(object_type)
    return {"object_types": object_types}


def role(rng, index, entities, object_types):
    owner = "" if index % 5 == 0 else f"e-{index % entities}"
    objects = []
    for object_type in rng.sample(object_types, 4):
        actions = rng.sample(object_type["actions"], rng.randrange(1, 4))
        objects.append({
            "object_type": object_type["name"],
            "actions": [{"action_name": a["name"],
                         "permission": rng.choice(PERMISSIONS)}
                        for a in actions],
        })
    out = {"id": f"r-{index}", "name": f"Role {index}",
           "permissions": {"objects": objects}}
    if owner:
        out["entity_id"] = owner
    return out


def credentials(rng, partners, entities, object_types):
    out = []
    for p in range(partners):
        partner_entities = list(range(p, entities, partners))
        for c in range(10):
            scopes = ["all:delete" if c % 3 == 0 else "all:read"]
            for object_type in rng.sample(object_types, 6):
                scopes.append(f"{object_type['name']}:{rng.choice(LEVELS)}")
            credential = {"client_id": f"c-{p}-{c}", "partner_id": f"p-{p}",
                          "scopes": scopes}
            if c % 4 == 1:
                credential["entity_ids"] = [
                    f"e-{e}" for e in rng.sample(partner_entities,
                                                 min(5, len(partner_entities)))]
            out.append(credential)
    return out


def request(rng, index, args, object_types, roles):
    entity = rng.randrange(args.entities)
    partner = entity % args.partners
    object_type = rng.choice(object_types)
    action = rng.choice(object_type["actions"])["name"]
    req = {"id": str(index)}
    kind = rng.random()
    if kind < 0.3:
        req["principal"] = {"partner": {
            "client_id": f"c-{partner}-{rng.randrange(10)}"}}
    else:
        # A role owned by the user's entity or a global one (index % 5 == 0).
        role_index = entity + args.entities * rng.randrange(
            max(1, args.roles // args.entities))
        user = {"user_id": f"u-{rng.randrange(1000)}",
                "entity_id": f"e-{entity}"}
        if role_index < args.roles and rng.random() < 0.9:
            user["role_id"] = f"r-{role_index}"
            # Mostly ask for what the role lists, so that every rule decides
            # some requests (a random pair is rarely in a role's table).
            if rng.random() < 0.8:
                listed = rng.choice(
                    roles[role_index]["permissions"]["objects"])
                object_type = {"name": listed["object_type"]}
                action = rng.choice(listed["actions"])["action_name"]
        if rng.random() < 0.7:
            user["client_id"] = f"c-{partner}-{rng.randrange(10)}"
        req["principal"] = {"entity_user": user}
    req["object_type"] = object_type["name"]
    req["action"] = action
    req["entity_id"] = f"e-{entity}"
    if rng.random() < 0.5:
        req["resource"] = {"entity_id": f"e-{entity}",
                           "created_by": f"u-{rng.randrange(1000)}"}
    noise = rng.random()
    if noise < 0.01:
        req["object_type"] = "no-such-type"
    elif noise < 0.02:
        req["entity_id"] = f"e-{rng.randrange(args.entities)}"
    return req


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--roles", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--partners", type=int, default=100)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.entities < args.partners:
        parser.error("--entities must be at least --partners")

    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    cat = catalog(rng)
    object_types = cat["object_types"]
    policy = {
        "catalog": cat,
        "roles": [role(rng, i, args.entities, object_types)
                  for i in range(args.roles)],
        "entities": [{"id": f"e-{e}", "partner_id": f"p-{e % args.partners}",
                      "default_role_id": f"r-{e * 5 % args.roles}"}
                     for e in range(args.entities)],
        "credentials": credentials(rng, args.partners, args.entities,
                                   object_types),
    }
    with open(os.path.join(args.out, "policy.json"), "w") as f:
        json.dump(policy, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(args.out, "requests.jsonl"), "w") as f:
        for i in range(args.requests):
            f.write(json.dumps(request(rng, i, args, object_types,
                                       policy["roles"]),
                               separators=(", ", ": ")))
            f.write("\n")


if __name__ == "__main__":
    main()
