#!/usr/bin/env python3
"""Regenerates the Monite example policy from the public Monite data.

Usage: convert.py DATA_DIR [--out DIR] [--check]

DATA_DIR holds monite_role_permission_catalogue.json and default_roles_example.json
extracted from Monite's public API documentation: the role permission catalogue of
its OpenAPI schema and the SDK's example roles (team-monite/monite-sdk @ f5442f2f,
packages/sdk-react/src/api/schema.json); see README.md, "Provenance".

Writes, into --out (default: this script's directory):
  catalog.json  every role object type and its actions, in the catalogue's order;
                levels are left to the engine's defaults; entity.create and
                entity.delete are partner-only (Monite: the /entities collection is
                for partner tokens only).
  roles.json    the 8 example roles, converted from the compact
                {object: {action: permission}} form into Monite's role JSON shape,
                first; then every other role already in roles.json (hand-written
                ones), unchanged and in their order.

--check writes nothing and exits 1 when the files on disk differ from what would be
written. Python 3 standard library only.
"""

import argparse
import json
import os
import sys

CATALOGUE_FILE = "monite_role_permission_catalogue.json"
ROLES_FILE = "default_roles_example.json"

# (object type, action) pairs only a partner token may use.
PARTNER_ONLY = {("entity", "create"), ("entity", "delete")}

# Display names for the example roles; ids are the example's keys.
ROLE_NAMES = {
    "admin": "Admin",
    "basic_member": "Basic member",
    "guest_member": "Guest member",
    "service_member": "Service member",
    "payables_employee_member": "Payables employee",
    "receivables_employee_member": "Receivables employee",
    "approver_member": "Approver",
    "payer_member": "Payer",
}

PERMISSIONS = ("allowed", "allowed_for_own", "not_allowed")
WIDTH = 100


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build_catalog(catalogue):
    object_types = []
    for name, actions in catalogue["role_object_types"].items():
        entries = []
        for action in actions:
            entry = {"name": action}
            if (name, action) in PARTNER_ONLY:
                entry["partner_only"] = True
            entries.append(entry)
        object_types.append({"name": name, "actions": entries})
    missing = PARTNER_ONLY - {(o["name"], a["name"]) for o in object_types for a in o["actions"]}
    if missing:
        sys.exit("partner-only pairs missing from the catalogue: %s" % sorted(missing))
    return {"catalog": {"object_types": object_types}}


def build_roles(examples, catalogue):
    known = {name: set(actions) for name, actions in catalogue["role_object_types"].items()}
    roles, problems = [], []
    for role_id, objects in examples.items():
        converted = []
        for object_type, actions in objects.items():
            if object_type not in known:
                problems.append("%s: unknown object type %s" % (role_id, object_type))
            entries = []
            for action, permission in actions.items():
                if object_type in known and action not in known[object_type]:
                    problems.append("%s: unknown action %s.%s" % (role_id, object_type, action))
                if permission not in PERMISSIONS:
                    problems.append("%s: %s.%s has permission %r" % (role_id, object_type, action, permission))
                entries.append({"action_name": action, "permission": permission})
            converted.append({"object_type": object_type, "actions": entries})
        name = ROLE_NAMES.get(role_id, role_id.replace("_", " ").capitalize())
        roles.append({"id": role_id, "name": name, "permissions": {"objects": converted}})
    if problems:
        sys.exit("the example roles do not match the catalogue:\n  " + "\n  ".join(problems))
    return roles


def dump(value, indent=0):
    """JSON with 2-space indentation; any value that fits on its line stays inline."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) + indent <= WIDTH or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            head = json.dumps(key, ensure_ascii=False) + ": "
            items.append(pad + head + dump(item, indent + 2))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + dump(item, indent + 2) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="directory with the Monite data files")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()

    catalogue = load(os.path.join(args.data_dir, CATALOGUE_FILE))
    examples = load(os.path.join(args.data_dir, ROLES_FILE))

    catalog = build_catalog(catalogue)
    converted = build_roles(examples, catalogue)

    roles_path = os.path.join(args.out, "roles.json")
    kept = []
    if os.path.exists(roles_path):
        kept = [r for r in load(roles_path).get("roles", []) if r.get("id") not in examples]

    outputs = {
        os.path.join(args.out, "catalog.json"): dump(catalog) + "\n",
        roles_path: dump({"roles": converted + kept}) + "\n",
    }
    stale = []
    for path, text in outputs.items():
        if args.check:
            current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
            if current != text:
                stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        sys.exit("out of date (rerun convert.py): " + ", ".join(stale))
    pairs = sum(len(o["actions"]) for o in catalog["catalog"]["object_types"])
    print("%d object types, %d (object type, action) pairs; %d converted roles, %d kept"
          % (len(catalog["catalog"]["object_types"]), pairs, len(converted), len(kept)))


if __name__ == "__main__":
    main()
