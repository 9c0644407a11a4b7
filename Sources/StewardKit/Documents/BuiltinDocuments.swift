/// Documents owned by "Amazon" that every region starts with, written to match the shapes AWS publishes.
public enum BuiltinDocuments {
    public struct Entry: Sendable {
        public var name: String
        public var content: String
    }

    public static let all: [Entry] = [
        Entry(name: "AWS-RunShellScript", content: runShellScript),
        Entry(name: "AWS-RunRemoteScript", content: runRemoteScript),
    ]

    public static func named(_ name: String) -> Entry? { all.first { $0.name == name } }

    static let runShellScript = """
        {
          "schemaVersion": "1.2",
          "description": "Run a shell script or specify the commands to run.",
          "parameters": {
            "commands": {
              "type": "StringList",
              "description": "(Required) Specify a shell script or a command to run.",
              "minItems": 1,
              "displayType": "textarea"
            },
            "workingDirectory": {
              "type": "String",
              "default": "",
              "description": "(Optional) The path to the working directory on your instance.",
              "maxChars": 4096
            },
            "executionTimeout": {
              "type": "String",
              "default": "3600",
              "description": "(Optional) The time in seconds for a command to complete before it is considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
              "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
            }
          },
          "runtimeConfig": {
            "aws:runShellScript": {
              "properties": [
                {
                  "id": "0.aws:runShellScript",
                  "runCommand": "{{ commands }}",
                  "workingDirectory": "{{ workingDirectory }}",
                  "timeoutSeconds": "{{ executionTimeout }}"
                }
              ]
            }
          }
        }
        """

    /// Runs a script from a URL the node can reach; steps download it and run it with the shell.
    static let runRemoteScript = """
        {
          "schemaVersion": "2.2",
          "description": "Download a shell script over HTTP(S) and run it.",
          "parameters": {
            "url": { "type": "String", "description": "(Required) The HTTP or HTTPS URL of the script.", "allowedPattern": "^https?://[^\\\\s'\\"]+$" },
            "commandLine": { "type": "String", "description": "(Optional) Arguments passed to the script.", "default": "" },
            "workingDirectory": { "type": "String", "default": "", "description": "(Optional) The working directory." },
            "executionTimeout": { "type": "String", "default": "3600", "description": "(Optional) Seconds before the run fails.", "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)" }
          },
          "mainSteps": [
            {
              "action": "aws:runShellScript",
              "name": "runRemoteScript",
              "precondition": { "StringEquals": ["platformType", "Linux"] },
              "inputs": {
                "workingDirectory": "{{ workingDirectory }}",
                "timeoutSeconds": "{{ executionTimeout }}",
                "runCommand": [
                  "set -e",
                  "script=$(mktemp)",
                  "trap 'rm -f \\"$script\\"' EXIT",
                  "if command -v curl >/dev/null; then curl -fsSL '{{ url }}' -o \\"$script\\"; else wget -qO \\"$script\\" '{{ url }}'; fi",
                  "sh \\"$script\\" {{ commandLine }}"
                ]
              }
            }
          ]
        }
        """
}
