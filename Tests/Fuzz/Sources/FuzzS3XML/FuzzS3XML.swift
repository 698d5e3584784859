// The S3 XML answer parsing (S3Client's internal XMLLite and S3ErrorBody, compiled here from
// Sources/S3Client/S3Error.swift through a symlink): the error body, and the fields S3Client
// reads from ListObjectsV2, ListMultipartUploads, CreateMultipartUpload and
// CompleteMultipartUpload answers, exactly as S3Client.swift asks for them.
import Foundation
import FuzzSupport

@main struct FuzzS3XML {
    static func main() {
        runFuzzer { input in
            let data = Data(input)
            _ = S3ErrorBody(xml: data)
            let text = String(decoding: data, as: UTF8.self)
            for item in XMLLite.all("Contents", in: text) {
                _ = XMLLite.first("Key", in: item); _ = XMLLite.first("Size", in: item)
                _ = XMLLite.first("ETag", in: item); _ = XMLLite.first("LastModified", in: item)
            }
            for upload in XMLLite.all("Upload", in: text) {
                _ = XMLLite.first("Key", in: upload); _ = XMLLite.first("UploadId", in: upload)
                _ = XMLLite.first("Initiated", in: upload)
            }
            for name in ["IsTruncated", "NextContinuationToken", "NextKeyMarker", "NextUploadIdMarker", "UploadId", "ETag"] {
                _ = XMLLite.first(name, in: text)
            }
            // What we send back must read back the same.
            let escaped = XMLLite.escape(text)
            if XMLLite.decode(escaped) != text { fatalError("escape/decode round trip") }
        }
    }
}
