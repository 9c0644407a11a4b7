import Foundation
import Testing

@testable import StewardKit

/// Cases from the AWS Signature Version 4 test suite (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service "service").
@Suite("SigV4 against the published AWS test suite")
struct SigV4Tests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let amzDate = "20150830T123600Z"

    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var method: String
        var path: String
        var query: String
        var headers: [(String, String)]
        var body: String
        var signature: String
        var testDescription: String { name }
    }

    static let host = ("Host", "example.amazonaws.com")
    static let date = ("X-Amz-Date", amzDate)

    static let vectors: [Vector] = [
        Vector(
            name: "get-vanilla", method: "GET", path: "/", query: "", headers: [host, date], body: "",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Vector(
            name: "post-vanilla", method: "POST", path: "/", query: "", headers: [host, date], body: "",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Vector(
            name: "get-vanilla-query-order-key-case", method: "GET", path: "/", query: "Param2=value2&Param1=value1",
            headers: [host, date], body: "", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Vector(
            name: "post-header-value-case", method: "POST", path: "/", query: "", headers: [host, ("My-Header1", "VALUE1"), date],
            body: "", signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
        Vector(
            name: "get-header-value-trim", method: "GET", path: "/", query: "",
            headers: [host, ("My-Header1", " value1"), ("My-Header2", "\"a   b   c\""), date], body: "",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        Vector(
            name: "get-header-key-duplicate", method: "GET", path: "/", query: "",
            headers: [host, ("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1"), date], body: "",
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        Vector(
            name: "get-unreserved", method: "GET", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            query: "", headers: [host, date], body: "",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ]

    @Test("signatures match the suite", arguments: vectors)
    func signature(_ v: Vector) {
        let request = SigV4.Request(method: v.method, path: v.path, query: v.query, headers: v.headers, body: Array(v.body.utf8))
        let signed = Set(v.headers.map { $0.0.lowercased() }).sorted()
        let canonical = SigV4.canonicalRequest(request, signedHeaders: signed)
        let sts = SigV4.stringToSign(amzDate: Self.amzDate, scope: "20150830/us-east-1/service/aws4_request", canonicalRequest: canonical)
        let sig = SigV4.signature(secret: Self.secret, date: "20150830", region: "us-east-1", service: "service", stringToSign: sts)
        #expect(sig == v.signature)
    }

    @Test("the canonical request of get-vanilla hashes to the suite's string to sign")
    func stringToSign() {
        let request = SigV4.Request(method: "GET", path: "/", headers: [Self.host, Self.date], body: [])
        let canonical = SigV4.canonicalRequest(request, signedHeaders: ["host", "x-amz-date"])
        let sts = SigV4.stringToSign(amzDate: Self.amzDate, scope: "20150830/us-east-1/service/aws4_request", canonicalRequest: canonical)
        #expect(sts.hasSuffix("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"))
    }

    @Test("signing and verifying agree, and the Authorization header parses")
    func roundTrip() throws {
        let now = Date(timeIntervalSince1970: 1_440_938_160)
        let base = SigV4.Request(
            method: "POST", path: "/", headers: [("Host", "127.0.0.1:8440"), ("X-Amz-Target", "AmazonSSM.ListCommands")],
            body: Array("{}".utf8))
        let added = SigV4.sign(base, accessKeyId: "AKIDEXAMPLE", secret: Self.secret, region: "eu-west-1", service: "ssm", now: now)
        let auth = try SigV4.Authorization(header: added.first { $0.0 == "Authorization" }!.1)
        #expect(auth.accessKeyId == "AKIDEXAMPLE")
        #expect(auth.region == "eu-west-1")
        #expect(auth.signedHeaders == ["host", "x-amz-date", "x-amz-target"])
        var full = base
        full.headers += added.filter { $0.0 == "X-Amz-Date" }
        let sts = SigV4.stringToSign(
            amzDate: SigV4.amzDateFormat(now), scope: auth.scope,
            canonicalRequest: SigV4.canonicalRequest(full, signedHeaders: auth.signedHeaders))
        #expect(
            SigV4.signature(secret: Self.secret, date: auth.date, region: auth.region, service: auth.service, stringToSign: sts)
                == auth.signature)
    }

    @Test("amz dates format and parse in UTC")
    func dates() {
        let d = Date(timeIntervalSince1970: 1_440_938_160)
        #expect(SigV4.amzDateFormat(d) == "20150830T123600Z")
        #expect(SigV4.parseAmzDate("20150830T123600Z") == d)
        #expect(SigV4.parseAmzDate("2015-08-30T12:36:00Z") == nil)
        #expect(SigV4.parseAmzDate("20151330T123600Z") == nil)
    }

    @Test("a malformed Authorization header is an IncompleteSignatureException")
    func malformed() {
        for header in ["Basic abc", "AWS4-HMAC-SHA256 Credential=x", "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00"] {
            #expect(throws: AWSError.self) { try SigV4.Authorization(header: header) }
        }
    }
}
