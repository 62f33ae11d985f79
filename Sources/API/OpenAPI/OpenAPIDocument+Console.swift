/// The operator console's page and files (``Console``) and `/whoami`, which it asks first.
extension OpenAPIDocument {
    static func console(into paths: inout [String: JSONValue]) {
        add(
            &paths,
            "/",
            "get",
            operation(
                "console",
                "The operator console: an HTML page that signs in with an API token and reads this API.",
                tag: "Console",
                responses: ["200": response("An HTML page.", ["type": "string"], type: "text/html")]
            )
        )
        add(
            &paths,
            "/console/{file}",
            "get",
            operation(
                "console_file",
                "A script or style sheet of the console.",
                tag: "Console",
                parameters: [
                    parameter(
                        "file",
                        in: "path",
                        [
                            "type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$",
                            "examples": ["app.js", "console.css"],
                        ],
                        "The file's name, e.g. app.js."
                    )
                ],
                responses: [
                    "200": staticFile,
                    "404": response("No such file.", reference("Detail")),
                ]
            )
        )
        add(
            &paths,
            "/whoami",
            "get",
            operation(
                "whoami",
                "Who the bearer token is: its name, role and company, and whether it may send commands to "
                    + "chargers.",
                tag: "Console",
                responses: ["200": response("The caller.", reference("Caller"))]
            )
        )
    }

    static func consoleSchemas(into schemas: inout [String: JSONValue]) {
        schemas["Caller"] = [
            "type": "object",
            "properties": [
                "name": ["type": "string", "description": "The token's name, or the JWT's subject."],
                "role": ["type": "string", "enum": .array(APIRole.allCases.map { .string($0.rawValue) })],
                "company_id": [
                    "type": ["integer", "null"], "minimum": 1,
                    "description": "The company the caller is limited to; null: every company.",
                ],
                "commands": [
                    "type": "boolean",
                    "description": "Whether the caller may send commands to chargers (POST /charge_points/...).",
                ],
                "authenticated": [
                    "type": "boolean",
                    "description": "False only when the server runs with API_AUTH_DISABLED (every route open).",
                ],
            ],
            "required": ["name", "role", "company_id", "commands", "authenticated"],
            "additionalProperties": false,
        ]
    }
}
