import Foundation
import StewardKit
import StewardStore

/// The activation baked into an image that installs the agent: many registrations (every machine started from the
/// image uses it), for the longest time SSM allows (30 days); tagged so that operators find it.
enum ImageAgentActivation {
    static func create(store: Store, region: String) async throws -> (id: String, code: String) {
        let now = Date().timeIntervalSince1970
        let code = AccessKeys.random(20, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let activation = Activation(
            activationId: UUID().uuidString.lowercased(), region: region, codeHash: InstanceOperations.hashCode(code),
            description: "Baked into an image by an image build", defaultInstanceName: nil, iamRole: "steward-image",
            registrationLimit: 1000, registrationsCount: 0, expirationDate: now + 30 * 86_400, createdDate: now,
            tags: [Tag(key: "steward:source", value: "image-build")])
        try await store.insertActivation(activation)
        return (activation.activationId, code)
    }
}
