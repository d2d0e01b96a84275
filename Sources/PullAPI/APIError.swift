import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Flowpay's error envelope for every non-2xx answer of the PULL API, with a logref that is also logged.
struct APIError: Error {
    let status: HTTPResponse.Status
    let message: String
    let errors: [String]
    var headers: HTTPFields = [:]

    static func badRequest(_ errors: String...) -> APIError { APIError(status: .badRequest, message: "Bad Request", errors: errors) }

    func response(path: String, logger: Logger) -> Response {
        let logref = String(UUID().uuidString.lowercased().prefix(18))
        logger.info("request refused", metadata: ["logref": "\(logref)", "status": "\(status.code)", "path": "\(path)",
                                                  "problem": "\(errors.joined(separator: "; "))"])
        let body: [String: Any] = [
            "message": message, "logref": logref,
            "_embedded": ["errors": errors.map { ["message": $0] }],
            "_links": ["self": ["href": path, "templated": false]],
        ]
        var fields = headers
        fields[.contentType] = "application/json"
        let bytes = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
