/// The files of the `/docs` page: its initializer and Swagger UI's own files (``SwaggerUI``).
extension OpenAPIDocument {
    static func swaggerUI(into paths: inout [String: JSONValue]) {
        add(
            &paths,
            "/docs/swagger-initializer.js",
            "get",
            operation(
                "docs_initializer",
                "The script that starts Swagger UI on /docs with this document.",
                tag: "Operations",
                responses: ["200": response("JavaScript.", ["type": "string"], type: "text/javascript")]
            )
        )
        add(
            &paths,
            "/docs/assets/{file}",
            "get",
            operation(
                "docs_asset",
                "A file of Swagger UI, from the copy the server was given in SWAGGER_UI_DIR.",
                tag: "Operations",
                parameters: [
                    parameter(
                        "file",
                        in: "path",
                        ["type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$"],
                        "The file's name, e.g. swagger-ui-bundle.js."
                    )
                ],
                responses: [
                    "200": staticFile,
                    "404": response("No such file, or Swagger UI is not installed.", reference("Detail")),
                ]
            )
        )
    }

    /// The answer of a file the server serves for a page (`/docs/assets/{file}`, `/console/{file}`).
    static let staticFile: JSONValue = [
        "description": "The file.",
        "content": [
            "text/javascript": ["schema": ["type": "string"]],
            "text/css": ["schema": ["type": "string"]],
            "image/png": ["schema": ["type": "string", "contentEncoding": "binary"]],
            "application/json": ["schema": ["type": "object"]],
        ],
    ]
}
