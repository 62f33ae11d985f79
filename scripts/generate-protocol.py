#!/usr/bin/env python3
"""Generates the OCPP 1.6J payload types of Sources/Protocol from the official JSON schemas.

Reads schemas/ocpp16/*.json (a copy of the official schemas, which the protocol tests read
too) and writes Sources/Protocol/Generated/ and Sources/API/Generated/OCPPSchemas.swift.
Every constraint the schemas state (required, type, enum, maxLength, minItems, format
date-time and uri, multipleOf, additionalProperties) becomes decoding code; nothing is
restated by hand except the Swift names of nested types and enumerations, which the schemas
leave anonymous (NAMES below, taken from the OCPP 1.6 specification's type names).

    python3 scripts/generate-protocol.py          # regenerates the files in place
    python3 scripts/generate-protocol.py --check  # generates into a temporary directory and
                                                  # exits 1, with a diff, if the committed
                                                  # files differ
"""

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMAS = os.path.join(ROOT, "schemas", "ocpp16")
# The generated files, relative to the repository root.
PROTOCOL_DIR = os.path.join("Sources", "Protocol", "Generated")
OPENAPI_FILE = os.path.join("Sources", "API", "Generated", "OCPPSchemas.swift")
# Where this run writes them: the repository, or a temporary directory with --check.
OUT = os.path.join(ROOT, PROTOCOL_DIR)
OPENAPI_OUT = os.path.join(ROOT, OPENAPI_FILE)

# Nested object types, by the property that holds them.
OBJECT_NAMES = {
    "idTagInfo": "IdTagInfo",
    "meterValue": "MeterValue",
    "transactionData": "MeterValue",
    "sampledValue": "SampledValue",
    "chargingProfile": "ChargingProfile",
    "csChargingProfiles": "ChargingProfile",
    "chargingSchedule": "ChargingSchedule",
    "chargingSchedulePeriod": "ChargingSchedulePeriod",
    "configurationKey": "KeyValue",
    "localAuthorizationList": "AuthorizationData",
    "certificateHashData": "CertificateHashData",
    "log": "LogParameters",
    "firmware": "Firmware",
}

# Enumerations, by (owning type, property): the specification's names.
ENUM_NAMES = {
    ("IdTagInfo", "status"): "AuthorizationStatus",
    ("BootNotificationResponse", "status"): "RegistrationStatus",
    ("CancelReservationResponse", "status"): "CancelReservationStatus",
    ("CertificateSignedResponse", "status"): "CertificateSignedStatus",
    ("ChangeAvailabilityRequest", "type"): "AvailabilityType",
    ("ChangeAvailabilityResponse", "status"): "AvailabilityStatus",
    ("ChangeConfigurationResponse", "status"): "ConfigurationStatus",
    ("ClearCacheResponse", "status"): "ClearCacheStatus",
    ("ClearChargingProfileRequest", "chargingProfilePurpose"): "ChargingProfilePurposeType",
    ("ChargingProfile", "chargingProfilePurpose"): "ChargingProfilePurposeType",
    ("ChargingProfile", "chargingProfileKind"): "ChargingProfileKindType",
    ("ChargingProfile", "recurrencyKind"): "RecurrencyKindType",
    ("ClearChargingProfileResponse", "status"): "ClearChargingProfileStatus",
    ("DataTransferResponse", "status"): "DataTransferStatus",
    ("CertificateHashData", "hashAlgorithm"): "HashAlgorithm",
    ("DeleteCertificateResponse", "status"): "DeleteCertificateStatus",
    ("DiagnosticsStatusNotificationRequest", "status"): "DiagnosticsStatus",
    ("ExtendedTriggerMessageRequest", "requestedMessage"): "ExtendedMessageTrigger",
    ("ExtendedTriggerMessageResponse", "status"): "TriggerMessageStatus",
    ("TriggerMessageResponse", "status"): "TriggerMessageStatus",
    ("TriggerMessageRequest", "requestedMessage"): "MessageTrigger",
    ("FirmwareStatusNotificationRequest", "status"): "FirmwareStatus",
    ("GetCompositeScheduleRequest", "chargingRateUnit"): "ChargingRateUnitType",
    ("ChargingSchedule", "chargingRateUnit"): "ChargingRateUnitType",
    ("GetCompositeScheduleResponse", "status"): "GetCompositeScheduleStatus",
    ("GetInstalledCertificateIdsRequest", "certificateType"): "CertificateUse",
    ("InstallCertificateRequest", "certificateType"): "CertificateUse",
    ("GetInstalledCertificateIdsResponse", "status"): "GetInstalledCertificateStatus",
    ("GetLogRequest", "logType"): "LogType",
    ("GetLogResponse", "status"): "LogStatus",
    ("InstallCertificateResponse", "status"): "InstallCertificateStatus",
    ("LogStatusNotificationRequest", "status"): "UploadLogStatus",
    ("SampledValue", "context"): "ReadingContext",
    ("SampledValue", "format"): "ValueFormat",
    ("SampledValue", "measurand"): "Measurand",
    ("SampledValue", "phase"): "Phase",
    ("SampledValue", "location"): "Location",
    ("SampledValue", "unit"): "UnitOfMeasure",
    ("RemoteStartTransactionResponse", "status"): "RemoteStartStopStatus",
    ("RemoteStopTransactionResponse", "status"): "RemoteStartStopStatus",
    ("ReserveNowResponse", "status"): "ReservationStatus",
    ("ResetRequest", "type"): "ResetType",
    ("ResetResponse", "status"): "ResetStatus",
    ("SendLocalListRequest", "updateType"): "UpdateType",
    ("SendLocalListResponse", "status"): "UpdateStatus",
    ("SetChargingProfileResponse", "status"): "ChargingProfileStatus",
    ("SignCertificateResponse", "status"): "GenericStatus",
    ("SignedFirmwareStatusNotificationRequest", "status"): "SignedFirmwareStatus",
    ("SignedUpdateFirmwareResponse", "status"): "UpdateFirmwareStatus",
    ("StatusNotificationRequest", "errorCode"): "ChargePointErrorCode",
    ("StatusNotificationRequest", "status"): "ChargePointStatus",
    ("StopTransactionRequest", "reason"): "Reason",
    ("UnlockConnectorResponse", "status"): "UnlockStatus",
}

# Who sends each action's CALL. Everything else is sent by the Central System.
CHARGE_POINT_INITIATED = {
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
    "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
    "StatusNotification", "StopTransaction", "SecurityEventNotification", "SignCertificate",
    "SignedFirmwareStatusNotification", "LogStatusNotification",
}
BOTH_DIRECTIONS = {"DataTransfer"}

SECURITY_EXTENSION = {
    "SecurityEventNotification", "SignCertificate", "CertificateSigned", "InstallCertificate",
    "DeleteCertificate", "GetInstalledCertificateIds", "SignedUpdateFirmware",
    "SignedFirmwareStatusNotification", "GetLog", "LogStatusNotification", "ExtendedTriggerMessage",
}

SWIFT_KEYWORDS = {"var", "let", "default", "case", "in", "is", "as", "for", "if", "else", "return", "func", "class",
                  "struct", "enum", "protocol", "extension", "import", "init", "self", "super", "where", "while",
                  "repeat", "switch", "break", "continue", "true", "false", "nil", "throw", "throws", "try"}

CASE_OVERRIDES = {"SoC": "soc", "RPM": "rpm", "N": "n"}

HEADER = "// Generated by scripts/generate-protocol.py from the official OCPP 1.6 JSON schemas. Do not edit.\n\n"


def snake(name):
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def lower_camel(value):
    if value in CASE_OVERRIDES:
        return CASE_OVERRIDES[value]
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", value) if p]
    first = parts[0]
    match = re.match(r"^([A-Z]+)(?=[A-Z][a-z]|$|[0-9])", first)
    if match and len(match.group(1)) > 1:
        run = match.group(1)
        first = run.lower() + first[len(run):]
    else:
        first = first[0].lower() + first[1:]
    rest = "".join(p[0].upper() + p[1:] for p in parts[1:])
    name = first + rest
    if name[0].isdigit():
        name = "_" + name
    if name in SWIFT_KEYWORDS:
        name = f"`{name}`"
    return name


class Field:
    def __init__(self, name, required, kind, **extra):
        self.name = name
        self.required = required
        self.kind = kind  # string, timestamp, uri, integer, number, boolean, enum, object, array
        self.extra = extra


def resolve(node, root):
    if "$ref" in node:
        return root["definitions"][node["$ref"].split("/")[-1]]
    return node


class Model:
    def __init__(self):
        self.objects = {}  # name -> (fields, source)
        self.enums = {}  # name -> list of values (union, in first-seen order)
        self.restrictions = {}  # top-level type -> list of (path, enum name, allowed values)
        self.min_items_uses = []  # (top-level type, path, owning type, property, minItems)
        self.uses = {}  # object or enum name -> set of "Owner.property" that hold it

    def field(self, owner, prop, node, root, required, top, path, in_array=False):
        """`path` is the path of the object holding `prop`, from the message's root."""
        node = resolve(node, root)
        segment = prop + "[]" if in_array else prop
        kind = node.get("type")
        if kind == "string":
            if "enum" in node:
                name = ENUM_NAMES.get((owner, prop))
                if name is None:
                    sys.exit(f"no enum name for {owner}.{prop}")
                values = node["enum"]
                self.uses.setdefault(name, set()).add(f"{owner}.{prop}")
                known = self.enums.setdefault(name, [])
                for v in values:
                    if v not in known:
                        known.append(v)
                self.restrictions.setdefault(top, []).append((path + [segment], name, list(values)))
                return Field(prop, required, "enum", type=name)
            fmt = node.get("format")
            if fmt == "date-time":
                return Field(prop, required, "timestamp")
            if fmt == "uri":
                return Field(prop, required, "uri", maxLength=node.get("maxLength"))
            if fmt is not None:
                sys.exit(f"unknown format {fmt}")
            return Field(prop, required, "string", maxLength=node.get("maxLength"))
        if kind == "integer":
            return Field(prop, required, "integer")
        if kind == "number":
            return Field(prop, required, "number", multipleOf=node.get("multipleOf"))
        if kind == "boolean":
            return Field(prop, required, "boolean")
        if kind == "object":
            name = OBJECT_NAMES.get(prop)
            if name is None:
                sys.exit(f"no object name for {owner}.{prop}")
            self.uses.setdefault(name, set()).add(f"{owner}.{prop}")
            self.object(name, node, root, top, path + [segment])
            return Field(prop, required, "object", type=name)
        if kind == "array":
            items = resolve(node["items"], root)
            element = self.field(owner, prop, items, root, True, top, path, in_array=True)
            self.min_items_uses.append((top, path + [prop], owner, prop, node.get("minItems", 0)))
            return Field(prop, required, "array", element=element, minItems=node.get("minItems", 0))
        sys.exit(f"unsupported schema node at {owner}.{prop}: {node}")

    def object(self, name, node, root, top, path):
        required = set(node.get("required", []))
        if node.get("additionalProperties", True) is not False:
            sys.exit(f"{name} allows additional properties; the generator assumes it does not")
        fields = []
        for prop, sub in node.get("properties", {}).items():
            fields.append(self.field(name, prop, sub, root, prop in required, top, path))
        signature = describe(fields)
        if name in self.objects:
            shared = self.objects[name][0]
            # A type shared by several messages takes the loosest minItems; the stricter
            # uses get restriction checks (see min_items_restrictions).
            for mine, theirs in zip(fields, shared):
                if mine.kind == "array" and theirs.kind == "array":
                    theirs.extra["minItems"] = min(mine.extra["minItems"], theirs.extra["minItems"])
            if describe(shared, False) != describe(fields, False):
                # Enum fields compare by type name: a use with fewer allowed values is
                # handled by restrictions. Any other difference would be a different type.
                sys.exit(f"{name} differs between uses:\n{describe(shared, False)}\n{describe(fields, False)}")
            return
        self.objects[name] = (fields, signature)


def describe(fields, with_min_items=True):
    out = []
    for f in fields:
        d = (f.name, f.required, f.kind, tuple(sorted((k, describe([v], with_min_items) if isinstance(v, Field) else v)
                                                      for k, v in f.extra.items()
                                                      if with_min_items or k != "minItems")))
        out.append(d)
    return tuple(out)


def swift_type(field):
    if field.kind == "string" or field.kind == "uri":
        return "String"
    if field.kind == "timestamp":
        return "OCPPTimestamp"
    if field.kind == "integer":
        return "Int"
    if field.kind == "number":
        return "Double"
    if field.kind == "boolean":
        return "Bool"
    if field.kind in ("enum", "object"):
        return field.extra["type"]
    if field.kind == "array":
        return "[" + swift_type(field.extra["element"]) + "]"
    raise ValueError(field.kind)


def read_expression(field):
    """The expression that reads one value of `field` from `reader`."""
    if field.kind == "string":
        ml = field.extra.get("maxLength")
        return f"try reader.readString(maxLength: {ml})" if ml else "try reader.readString()"
    if field.kind == "uri":
        ml = field.extra.get("maxLength")
        return f"try reader.readURI(maxLength: {ml})" if ml else "try reader.readURI()"
    if field.kind == "timestamp":
        return "try reader.readTimestamp()"
    if field.kind == "integer":
        return "try reader.readInteger()"
    if field.kind == "number":
        m = field.extra.get("multipleOf")
        return f"try reader.readNumber(multipleOf: {m})" if m else "try reader.readNumber()"
    if field.kind == "boolean":
        return "try reader.readBool()"
    if field.kind == "enum":
        return f"try reader.readEnum({field.extra['type']}.self)"
    if field.kind == "object":
        return f"try {field.extra['type']}(reading: &reader)"
    if field.kind == "array":
        element = field.extra["element"]
        inner = read_expression(element)
        min_items = field.extra.get("minItems", 0)
        args = f"minItems: {min_items}" if min_items else ""
        closure = f"{{ (reader: inout JSONReader) throws(OCPPError) in {inner} }}"
        if args:
            return f"try reader.readArray({args}) {closure}"
        return f"try reader.readArray {closure}"
    raise ValueError(field.kind)


def doc_comment(text, indent=""):
    """`text` as a triple-slash comment, wrapped to the project's line length."""
    return "".join(f"{indent}/// {line}\n" for line in textwrap.wrap(text, 116 - len(indent)))


def uses_comment(name, uses):
    """Where a shared type or enumeration appears, which its name alone does not say."""
    places = [f"`{use}`" for use in sorted(uses.get(name, ()))]
    if len(places) > 1:
        places[-1] = "and " + places[-1]
    return doc_comment("Used by " + (", " if len(places) > 2 else " ").join(places) + ".")


def constraints(field):
    """What the schema requires of a field beyond its Swift type, as a sentence, or None."""
    kind = field.kind
    element = None
    parts = []
    if kind == "array":
        if field.extra.get("minItems"):
            count = field.extra["minItems"]
            parts.append(f"at least {count} item{'s' if count != 1 else ''}")
        element = field.extra["element"]
        kind = element.kind
    extra = (element or field).extra
    if kind == "uri":
        parts.append("each a URI" if element else "a URI")
    if extra.get("maxLength"):
        prefix = "each at most" if element else "at most"
        parts.append(f"{prefix} {extra['maxLength']} characters")
    if extra.get("multipleOf"):
        parts.append(f"a multiple of {extra['multipleOf']}")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def write_object(name, fields, top_info, restrictions, enums, uses):
    """Swift source of one payload struct."""
    lines = []
    conformances = "OCPPPayload"
    if top_info:
        action, is_request, schema_file = top_info
        if is_request:
            conformances = "OCPPRequest"
            lines.append(f"/// The `{action}` CALL's payload (schema `{schema_file}`).\n")
        else:
            lines.append(f"/// The `{action}` CALLRESULT's payload (schema `{schema_file}`).\n")
    else:
        lines.append(uses_comment(name, uses))
    lines.append(f"public struct {name}: {conformances} {{\n")
    if top_info and top_info[1]:
        lines.append(f"    public typealias Response = {top_info[0]}Response\n")
        lines.append(f"    public static var action: OCPPAction {{ .{lower_camel(top_info[0])} }}\n")
    lines.append(f"    public static var typeName: StaticString {{ \"{name}\" }}\n\n")
    for f in fields:
        optional = "" if f.required else "?"
        rule = constraints(f)
        if rule:
            lines.append(doc_comment(rule, indent="    "))
        lines.append(f"    public var {f.name}: {swift_type(f)}{optional}\n")
    if fields:
        lines.append("\n")
    # Memberwise initializer.
    params = ", ".join(
        f"{f.name}: {swift_type(f)}{'' if f.required else '? = nil'}" for f in fields
    )
    lines.append(f"    public init({params}) {{\n")
    for f in fields:
        lines.append(f"        self.{f.name} = {f.name}\n")
    lines.append("    }\n\n")
    # Decoder.
    lines.append("    public init(reading reader: inout JSONReader) throws(OCPPError) {\n")
    lines.append("        try reader.beginObject()\n")
    for f in fields:
        lines.append(f"        var {f.name}: {swift_type(f)}?\n")
    lines.append("        while let member = try reader.nextKey() {\n")
    first = True
    for f in fields:
        keyword = "if" if first else "} else if"
        first = False
        lines.append(f"            {keyword} reader.key(member, is: \"{f.name}\", \"{snake(f.name)}\") {{\n")
        lines.append(f"                do throws(OCPPError) {{\n")
        lines.append(f"                    {f.name} = {read_expression(f)}\n")
        lines.append(f"                }} catch {{\n")
        lines.append(f"                    throw error.under(reader.name(\"{f.name}\", \"{snake(f.name)}\"))\n")
        lines.append(f"                }}\n")
    if fields:
        lines.append("            } else {\n")
        lines.append("                try reader.unknownProperty(member, in: Self.typeName)\n")
        lines.append("            }\n")
    else:
        lines.append("            try reader.unknownProperty(member, in: Self.typeName)\n")
    lines.append("        }\n")
    for f in fields:
        if f.required:
            lines.append(
                f"        guard let {f.name} else {{ throw reader.missing(\"{f.name}\", \"{snake(f.name)}\") }}\n"
            )
    for f in fields:
        lines.append(f"        self.{f.name} = {f.name}\n")
    if restrictions:
        lines.append("        try checkRestrictions(reader: reader)\n")
    lines.append("    }\n\n")
    # Encoder.
    lines.append("    public func write(to writer: inout JSONWriter) {\n")
    lines.append("        writer.beginObject()\n")
    for f in fields:
        key = f"writer.key(\"{f.name}\", \"{snake(f.name)}\")"
        if f.required:
            lines.append(f"        {key}\n")
            lines.append(f"        writer.write({f.name})\n")
        else:
            lines.append(f"        if let {f.name} {{\n")
            lines.append(f"            {key}\n")
            lines.append(f"            writer.write({f.name})\n")
            lines.append("        }\n")
    lines.append("        writer.endObject()\n")
    lines.append("    }\n")
    if restrictions:
        lines.append(restriction_code(restrictions, fields, enums))
    lines.append("}\n")
    return "".join(lines)


def restriction_code(restrictions, fields, enums):
    """Checks of enum values this message's schema allows fewer of than the shared Swift enum has."""
    out = ["\n"]
    out.append("    /// Constraints this message's schema states beyond those of the types it shares with other messages.\n")
    out.append("    private func checkRestrictions(reader: borrowing JSONReader) throws(OCPPError) {\n")
    for path, enum_name, allowed in restrictions:
        if enum_name is None:
            out.append(f"        // {'.'.join(path)}: at least {allowed} item(s)\n")
            def leaf(pad, value, suffix, minimum=allowed):
                return (f"{pad}if {value}.count < {minimum} {{\n"
                        f"{pad}    throw OCPPError.tooFewItems({value}.count, minimum: {minimum}){suffix}\n"
                        f"{pad}}}\n")
            out.append(emit_traversal(path, 0, "self", 2, leaf))
            continue
        forbidden = [v for v in enums[enum_name] if v not in allowed]
        out.append(f"        // {'.'.join(path)}: {', '.join(forbidden)} not allowed\n")
        allowed_list = ", ".join(f'"{v}"' for v in allowed)
        forbidden_cases = ", ".join("." + lower_camel(v) for v in forbidden)
        def leaf(pad, value, suffix, forbidden_cases=forbidden_cases, allowed_list=allowed_list):
            return (f"{pad}if [{forbidden_cases}].contains({value}) {{\n"
                    f"{pad}    throw OCPPError.notAllowedHere({value}.rawValue, allowed: [{allowed_list}]){suffix}\n"
                    f"{pad}}}\n")
        out.append(emit_traversal(path, 0, "self", 2, leaf))
    out.append("    }\n")
    return "".join(out)


def emit_traversal(path, depth, base, indent, leaf, prefixes=""):
    """Code that walks `path` (segments ending in [] are arrays) from `base` and runs the
    check `leaf(pad, value, error_suffix)` on the value at its end. `error_suffix` locates
    an error thrown there (innermost component first)."""
    pad = "    " * indent
    segment = path[0]
    is_array = segment.endswith("[]")
    name = segment[:-2] if is_array else segment
    var = f"v{depth}"
    located = f".under(reader.name(\"{name}\", \"{snake(name)}\"))"
    if len(path) == 1:
        return (f"{pad}if let {var} = optional({base}.{name}) {{\n"
                + leaf(pad + "    ", var, located + prefixes)
                + f"{pad}}}\n")
    if is_array:
        index = f"i{depth}"
        head = f"{pad}for ({index}, {var}) in orEmpty({base}.{name}).enumerated() {{\n"
        inner_prefixes = f".at(index: {index}){located}" + prefixes
    else:
        head = f"{pad}if let {var} = optional({base}.{name}) {{\n"
        inner_prefixes = located + prefixes
    return head + emit_traversal(path[1:], depth + 1, var, indent + 1, leaf, inner_prefixes) + f"{pad}}}\n"


def write_enum(name, values, uses):
    lines = [uses_comment(name, uses)]
    lines.append(f"public enum {name}: String, OCPPEnum {{\n")
    for v in values:
        lines.append(f"    case {lower_camel(v)} = \"{v}\"\n")
    lines.append("\n    public static func matching(_ raw: UnsafeRawBufferPointer) -> Self? {\n")
    by_length = {}
    for v in values:
        by_length.setdefault(len(v.encode()), []).append(v)
    lines.append("        switch raw.count {\n")
    for length in sorted(by_length):
        lines.append(f"        case {length}:\n")
        for v in by_length[length]:
            lines.append(f"            if rawEquals(raw, \"{v}\") {{ return .{lower_camel(v)} }}\n")
    lines.append("        default:\n            break\n")
    lines.append("        }\n        return nil\n    }\n}\n")
    return "".join(lines)


def generate():
    """Writes every generated file to OUT and OPENAPI_OUT."""
    files = sorted(f for f in os.listdir(SCHEMAS) if f.endswith(".json"))
    model = Model()
    tops = {}
    actions = []
    for file in files:
        root = json.load(open(os.path.join(SCHEMAS, file)))
        base = file[:-5]
        if base.endswith("Response"):
            action, is_request, name = base[: -len("Response")], False, base
        else:
            action, is_request, name = base, True, base + "Request"
            actions.append(action)
        tops[name] = (action, is_request, file)
        model.object(name, root, root, name, [])

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "Messages"))
    os.makedirs(os.path.join(OUT, "Types"))
    os.makedirs(os.path.join(OUT, "Enums"))

    # Restrictions: enum uses whose allowed values are fewer than the shared enum's.
    restrictions = {}
    for top, uses in model.restrictions.items():
        for path, enum_name, allowed in uses:
            if set(allowed) != set(model.enums[enum_name]):
                restrictions.setdefault(top, []).append((path, enum_name, allowed))
    for top, path, owner, prop, min_items in model.min_items_uses:
        shared = next(f for f in model.objects[owner][0] if f.name == prop)
        if min_items > shared.extra["minItems"]:
            restrictions.setdefault(top, []).append((path, None, min_items))

    for name, (fields, _) in model.objects.items():
        top_info = tops.get(name)
        source = HEADER + write_object(name, fields, top_info, restrictions.get(name), model.enums, model.uses)
        if top_info:
            path = os.path.join(OUT, "Messages", f"{top_info[0]}.swift")
            if os.path.exists(path):
                source = open(path).read() + "\n" + source[len(HEADER):]
        else:
            path = os.path.join(OUT, "Types", f"{name}.swift")
        with open(path, "w") as f:
            f.write(source)

    for name, values in model.enums.items():
        with open(os.path.join(OUT, "Enums", f"{name}.swift"), "w") as f:
            f.write(HEADER + write_enum(name, values, model.uses))

    write_actions(sorted(actions))
    write_openapi_schemas(files)
    # The project's .swift-format decides the layout, so the output passes the lint step.
    subprocess.run(
        ["swift", "format", "--in-place", "--recursive", "--configuration", os.path.join(ROOT, ".swift-format"),
         OUT, OPENAPI_OUT],
        check=True,
        cwd=ROOT,
    )


def generated_files(root):
    """The generated files under `root`, relative to it."""
    found = []
    for directory, _, names in os.walk(os.path.join(root, PROTOCOL_DIR)):
        found += [os.path.relpath(os.path.join(directory, n), root) for n in names]
    if os.path.exists(os.path.join(root, OPENAPI_FILE)):
        found.append(OPENAPI_FILE)
    return set(found)


def check():
    """Generates into a temporary directory and compares with the committed files: 0 when
    they are the same, 1 with the differences otherwise."""
    global OUT, OPENAPI_OUT
    with tempfile.TemporaryDirectory(prefix="ocpp-generated-") as temporary:
        OUT = os.path.join(temporary, PROTOCOL_DIR)
        OPENAPI_OUT = os.path.join(temporary, OPENAPI_FILE)
        generate()
        expected = generated_files(temporary)
        committed = generated_files(ROOT)
        report = []
        for path in sorted(expected - committed):
            report.append(f"missing: {path}\n")
        for path in sorted(committed - expected):
            report.append(f"not generated from the schemas (delete it): {path}\n")
        for path in sorted(expected & committed):
            with open(os.path.join(ROOT, path)) as f:
                ours = f.readlines()
            with open(os.path.join(temporary, path)) as f:
                theirs = f.readlines()
            if ours != theirs:
                report += difflib.unified_diff(ours, theirs, f"committed/{path}", f"generated/{path}")
    if not report:
        print("The generated code matches schemas/ocpp16.")
        return 0
    shown = "".join(report).splitlines(keepends=True)
    sys.stderr.write("".join(shown[:200]))
    if len(shown) > 200:
        sys.stderr.write(f"... and {len(shown) - 200} more lines\n")
    sys.stderr.write(
        "\nThe generated code is out of date with schemas/ocpp16 or scripts/generate-protocol.py.\n"
        "Run: python3 scripts/generate-protocol.py   and commit the result.\n"
    )
    return 1


def main():
    arguments = sys.argv[1:]
    if arguments == ["--check"]:
        sys.exit(check())
    if arguments:
        sys.exit("usage: python3 scripts/generate-protocol.py [--check]")
    generate()


def openapi_schema(node, root):
    """`node` as an OpenAPI 3.1 schema with the REST API's snake_case property names."""
    node = resolve(node, root)
    kind = node.get("type")
    if kind == "object":
        result = {
            "type": "object",
            "properties": {snake(k): openapi_schema(v, root) for k, v in node.get("properties", {}).items()},
            "additionalProperties": False,
        }
        if node.get("required"):
            result["required"] = [snake(k) for k in node["required"]]
        return result
    if kind == "array":
        result = {"type": "array", "items": openapi_schema(node["items"], root)}
        for key in ("minItems", "maxItems"):
            if key in node:
                result[key] = node[key]
        return result
    return {k: node[k] for k in ("type", "enum", "format", "maxLength", "multipleOf", "minimum", "maximum") if k in node}


# The charger-initiated messages the REST API's /db/ocpp/* endpoints relay.
RELAYED = {"BootNotification", "StatusNotification", "StartTransaction", "StopTransaction", "MeterValues", "Heartbeat"}


def write_openapi_schemas(files):
    """The Central-System-initiated requests and their confirmations, and the relayed
    charger-initiated ones, for the REST API's OpenAPI document."""
    schemas = {}
    for file in files:
        base = file[:-5]
        action = base[: -len("Response")] if base.endswith("Response") else base
        if action in CHARGE_POINT_INITIATED and action not in BOTH_DIRECTIONS and action not in RELAYED:
            continue
        root = json.load(open(os.path.join(SCHEMAS, file)))
        schemas[base if base.endswith("Response") else base + "Request"] = openapi_schema(root, root)
    text = json.dumps(schemas, indent=1, sort_keys=True)
    os.makedirs(os.path.dirname(OPENAPI_OUT), exist_ok=True)
    with open(OPENAPI_OUT, "w") as f:
        f.write(HEADER)
        f.write("/// The OCPP 1.6 requests a Central System sends and the confirmations it gets, and those of the\n")
        f.write("/// charger messages `/db/ocpp/*` relays, as OpenAPI 3.1 schemas with snake_case property names:\n")
        f.write("/// `<Action>Request` and `<Action>Response`.\n")
        f.write("enum OCPPSchemas {\n    static let json = #\"\"\"\n")
        for line in text.splitlines():
            f.write("        " + line + "\n")
        f.write("        \"\"\"#\n}\n")


def write_actions(actions):
    lines = [HEADER]
    lines.append("/// Every action of OCPP 1.6J: the 28 of the Core, Firmware Management, Local Auth List\n")
    lines.append("/// Management, Reservation, Smart Charging and Remote Trigger profiles, and the 11 of the\n")
    lines.append("/// security extension.\n")
    lines.append("public enum OCPPAction: String, OCPPEnum {\n")
    for a in actions:
        lines.append(f"    case {lower_camel(a)} = \"{a}\"\n")
    lines.append("\n    public static func matching(_ raw: UnsafeRawBufferPointer) -> Self? {\n")
    lines.append("        switch raw.count {\n")
    by_length = {}
    for a in actions:
        by_length.setdefault(len(a), []).append(a)
    for length in sorted(by_length):
        lines.append(f"        case {length}:\n")
        for a in by_length[length]:
            lines.append(f"            if rawEquals(raw, \"{a}\") {{ return .{lower_camel(a)} }}\n")
    lines.append("        default:\n            break\n        }\n        return nil\n    }\n\n")

    lines.append("    /// Whether a Charge Point may send this action's CALL.\n")
    lines.append("    public var isSentByChargePoint: Bool {\n        switch self {\n")
    cp = [a for a in actions if a in CHARGE_POINT_INITIATED]
    lines.append("        case " + ", ".join("." + lower_camel(a) for a in cp) + ":\n            return true\n")
    lines.append("        default:\n            return false\n        }\n    }\n\n")
    lines.append("    /// Whether a Central System may send this action's CALL.\n")
    lines.append("    public var isSentByCentralSystem: Bool {\n        switch self {\n")
    cs = [a for a in actions if a not in CHARGE_POINT_INITIATED or a in BOTH_DIRECTIONS]
    lines.append("        case " + ", ".join("." + lower_camel(a) for a in cs) + ":\n            return true\n")
    lines.append("        default:\n            return false\n        }\n    }\n\n")
    lines.append("    /// Whether the action belongs to the security extension rather than the 1.6 profiles.\n")
    lines.append("    public var isSecurityExtension: Bool {\n        switch self {\n")
    sec = [a for a in actions if a in SECURITY_EXTENSION]
    lines.append("        case " + ", ".join("." + lower_camel(a) for a in sec) + ":\n            return true\n")
    lines.append("        default:\n            return false\n        }\n    }\n\n")
    lines.append("    /// The request (CALL payload) type.\n")
    lines.append("    public var requestType: any OCPPRequest.Type {\n        switch self {\n")
    for a in actions:
        lines.append(f"        case .{lower_camel(a)}: return {a}Request.self\n")
    lines.append("        }\n    }\n\n")
    lines.append("    /// The confirmation (CALLRESULT payload) type.\n")
    lines.append("    public var responseType: any OCPPPayload.Type {\n        switch self {\n")
    for a in actions:
        lines.append(f"        case .{lower_camel(a)}: return {a}Response.self\n")
    lines.append("        }\n    }\n}\n")
    with open(os.path.join(OUT, "OCPPAction.swift"), "w") as f:
        f.write("".join(lines))

    for enum_name, senders, doc in (
        ("ChargePointRequest", [a for a in actions if a in CHARGE_POINT_INITIATED],
         "A request a Charge Point sends to the Central System, decoded and validated."),
        ("CentralSystemRequest", [a for a in actions if a not in CHARGE_POINT_INITIATED or a in BOTH_DIRECTIONS],
         "A request the Central System sends to a Charge Point, decoded and validated."),
    ):
        lines = [HEADER, f"/// {doc}\n", f"public enum {enum_name}: OCPPIncomingRequest {{\n"]
        for a in senders:
            lines.append(f"    case {lower_camel(a)}({a}Request)\n")
        lines.append("\n    public init(action: OCPPAction, reading reader: inout JSONReader) throws(OCPPError) {\n")
        lines.append("        switch action {\n")
        for a in senders:
            lines.append(f"        case .{lower_camel(a)}: self = .{lower_camel(a)}(try {a}Request(reading: &reader))\n")
        lines.append("        default:\n")
        lines.append("            throw OCPPError(code: .notSupported, reason: \"\\(action.rawValue) is not sent in this direction\")\n")
        lines.append("        }\n    }\n\n")
        lines.append("    public var action: OCPPAction {\n        switch self {\n")
        for a in senders:
            lines.append(f"        case .{lower_camel(a)}: return .{lower_camel(a)}\n")
        lines.append("        }\n    }\n\n")
        lines.append("    public var payload: any OCPPRequest {\n        switch self {\n")
        for a in senders:
            lines.append(f"        case .{lower_camel(a)}(let request): return request\n")
        lines.append("        }\n    }\n}\n")
        with open(os.path.join(OUT, f"{enum_name}.swift"), "w") as f:
            f.write("".join(lines))


if __name__ == "__main__":
    main()
