import ArgumentParser
import StewardKit

@main
struct StewardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steward",
        abstract: "Steward: a self-hosted systems manager that speaks the AWS Systems Manager API.",
        version: "0.1.0",
        subcommands: [
            Dev.self, Server.self, AccessKey.self, ActivationGroup.self, Instances.self, Run.self, Commands.self,
            CommandGroup.self, Documents.self, Params.self, Keys.self, InventoryGroup.self, Groups.self, Associations.self, Bench.self,
            GrantGroup.self, Exec.self, Images.self,
            SessionCommand.self, SessionsGroup.self,
        ])
}

/// Turns an error into the one line the CLI prints, without the usage text (ArgumentParser exits non-zero).
func failure(_ error: any Error) -> any Error {
    if let e = error as? AWSError { return CLIError("\(e.code): \(e.message)") }
    if error is ValidationError || error is ExitCode || error is CleanExit || error is CLIError { return error }
    return CLIError("\(error)")
}
