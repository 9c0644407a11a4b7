import StewardKit

/// Documents owned by "Amazon" that every region starts with, written to match the shapes AWS publishes.
public enum BuiltinDocuments {
    public struct Entry: Sendable {
        public var name: String
        public var content: String
    }

    public static let all: [Entry] = [
        Entry(name: "AWS-RunShellScript", content: runShellScript),
        Entry(name: "AWS-GatherSoftwareInventory", content: gatherSoftwareInventory),
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

    static func enabledParameter(_ description: String, default value: String = "Enabled") -> String {
        """
            {
              "type": "String",
              "default": "\(value)",
              "description": "\(description)",
              "allowedValues": ["Enabled", "Disabled"]
            }
        """
    }

    static let gatherSoftwareInventory = """
        {
          "schemaVersion": "2.0",
          "description": "Software inventory: applications, AWS components, files, network configuration, services, instance details and custom inventory.",
          "parameters": {
            "applications": \(enabledParameter("(Optional) Collect data for installed applications.")),
            "awsComponents": \(enabledParameter("(Optional) Collect data for AWS components such as the agent.")),
            "files": {
              "type": "String",
              "default": "",
              "description": "(Optional) Collect data for files: a JSON list of {Path, Pattern, Recursive, DirScanLimit}.",
              "displayType": "textarea"
            },
            "networkConfig": \(enabledParameter("(Optional) Collect data for network configurations.")),
            "windowsUpdates": \(enabledParameter("(Optional, Windows) Collect data for Windows updates.")),
            "instanceDetailedInformation": \(enabledParameter("(Optional) Collect CPU, kernel and other instance details.")),
            "services": \(enabledParameter("(Optional) Collect data for service configurations.")),
            "windowsRegistry": {
              "type": "String",
              "default": "",
              "description": "(Optional, Windows) Collect data for registry keys.",
              "displayType": "textarea"
            },
            "windowsRoles": \(enabledParameter("(Optional, Windows) Collect data for Windows roles.")),
            "customInventory": \(enabledParameter("(Optional) Collect data for custom inventory.")),
            "billingInfo": \(enabledParameter("(Optional) Collect billing information."))
          },
          "mainSteps": [
            {
              "action": "aws:softwareInventory",
              "name": "collectSoftwareInventoryItems",
              "inputs": {
                "applications": "{{ applications }}",
                "awsComponents": "{{ awsComponents }}",
                "networkConfig": "{{ networkConfig }}",
                "files": "{{ files }}",
                "services": "{{ services }}",
                "windowsRoles": "{{ windowsRoles }}",
                "windowsRegistry": "{{ windowsRegistry }}",
                "windowsUpdates": "{{ windowsUpdates }}",
                "instanceDetailedInformation": "{{ instanceDetailedInformation }}",
                "billingInfo": "{{ billingInfo }}",
                "customInventory": "{{ customInventory }}"
              }
            }
          ]
        }
        """
}
