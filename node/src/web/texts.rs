//! Every sentence of the web interface, in Vietnamese and in English. Templates call
//! `t("key")`; a key missing here is a bug the tests catch (they read every template).

use sync_protocol::entry::{AwardGrade, DecisionKind};

use crate::lang::Lang;
use crate::officers::AccountError;
use crate::search::SearchError;

/// key, Vietnamese, English.
pub const TEXTS: &[(&str, &str, &str)] = &[
    ("app", "Sáng kiến công đoàn", "Union initiatives"),
    ("nav_dashboard", "Tổng quan", "Dashboard"),
    ("nav_list", "Sáng kiến", "Initiatives"),
    ("nav_new", "Đăng ký mới", "Register"),
    ("nav_inbox", "Chờ quyết định", "Inbox"),
    ("nav_sync", "Đồng bộ", "Sync"),
    ("nav_accounts", "Tài khoản", "Accounts"),
    ("logout", "Đăng xuất", "Log out"),
    ("login_title", "Đăng nhập", "Log in"),
    ("login_name", "Tên đăng nhập", "Login name"),
    ("password", "Mật khẩu", "Password"),
    ("login_button", "Đăng nhập", "Log in"),
    ("login_hint", "Tài khoản do cán bộ vận hành của nút cấp.", "Accounts are made by the node's operator."),
    ("progress", "Tiến độ so với chỉ tiêu", "Progress against targets"),
    ("phase", "Giai đoạn", "Phase"),
    ("count", "Số sáng kiến", "Initiatives"),
    ("target", "Chỉ tiêu", "Target"),
    ("reached", "Đạt", "Reached"),
    ("benefit_total", "Tổng giá trị làm lợi", "Total benefit"),
    ("by_status", "Theo trạng thái", "By status"),
    ("children", "Đơn vị trực thuộc (xếp theo tỷ lệ đạt)", "Child units (ranked by share of target)"),
    ("unit", "Đơn vị", "Unit"),
    ("deadlines", "Hạn sắp tới", "Deadlines coming up"),
    ("no_deadlines", "Không có hạn nào sắp tới.", "No deadline coming up."),
    ("no_counts", "Chưa có sáng kiến nào trong chương trình tại đơn vị này.", "No initiative in a programme at this unit yet."),
    ("waits", "Việc chờ tôi", "What waits for me"),
    ("open_inbox", "Mở hộp chờ quyết định", "Open the inbox"),
    ("search", "Tìm (không cần dấu)", "Search (diacritics optional)"),
    ("search_button", "Lọc", "Filter"),
    ("all_statuses", "Mọi trạng thái", "Every status"),
    ("all_sectors", "Mọi lĩnh vực", "Every sector"),
    ("status", "Trạng thái", "Status"),
    ("sector", "Lĩnh vực", "Sector"),
    ("title", "Tên sáng kiến", "Title"),
    ("origin", "Đơn vị", "Unit"),
    ("benefit", "Giá trị làm lợi (đồng)", "Benefit (VND)"),
    ("registered_on", "Ngày đăng ký (ngày/tháng/năm)", "Registered on (day/month/year)"),
    ("found", "Tìm thấy", "Found"),
    ("page", "Trang", "Page"),
    ("prev", "‹ Trước", "‹ Previous"),
    ("next", "Sau ›", "Next ›"),
    ("none_found", "Không có sáng kiến nào khớp.", "No initiative matches."),
    ("confidential", "Bí mật", "Confidential"),
    ("form_title", "Đăng ký sáng kiến (Mẫu 1)", "Register an initiative (Mẫu 1)"),
    ("form_errors", "Chưa lưu: sửa các ô được đánh dấu rồi gửi lại. Không có gì được lưu.", "Not saved: correct the marked fields and send again. Nothing was stored."),
    ("summary", "Tóm tắt hiệu quả", "Summary of effect"),
    ("authors", "Tác giả (họ tên — chức vụ)", "Authors (name — position)"),
    ("author_name", "Họ tên", "Full name"),
    ("author_pos", "Chức vụ, nghề nghiệp", "Position"),
    ("application", "Tình trạng áp dụng", "Application"),
    ("applied", "Đã áp dụng", "Applied"),
    ("trial", "Áp dụng thử", "On trial"),
    ("confidential_flag", "Sáng kiến có bí mật công nghệ (chỉ bản công khai được gửi lên trên cấp trực tiếp)", "Contains a technology secret (only its public projection goes above the direct superior)"),
    ("mau4", "Mô tả (Mẫu 4, có thể bổ sung sau)", "Description (Mẫu 4, may be added later)"),
    ("current_state", "Thực trạng", "Current state"),
    ("solution", "Giải pháp", "Solution"),
    ("novelty", "Tính mới", "Novelty"),
    ("scope", "Phạm vi áp dụng", "Scope of application"),
    ("effectiveness", "Hiệu quả", "Effectiveness"),
    ("save", "Lưu (ký bằng khóa của đơn vị)", "Save (signed with the unit's key)"),
    ("err_required", "Cần điền ô này.", "This field is required."),
    ("err_sector", "Chọn một lĩnh vực.", "Choose a sector."),
    ("err_money", "Không đọc được số tiền: viết số đồng như in, ví dụ 2.400.000.000 hoặc 2400000000, không có phần lẻ.", "Not an amount that can be read: write whole VND as printed, e.g. 2.400.000.000 or 2400000000, no decimal part."),
    ("err_date", "Không đọc được ngày: viết ngày/tháng/năm, ví dụ 15/07/2022.", "Not a date that can be read: write day/month/year, e.g. 15/07/2022."),
    ("err_author", "Cần ít nhất một tác giả (họ tên).", "At least one author (full name) is needed."),
    ("err_reason", "Khi trả lại cần ghi lý do, để cơ sở biết cần bổ sung gì.", "A return needs its reason, so the origin knows what to revise."),
    ("authors_h", "Tác giả", "Authors"),
    ("chain", "Chuỗi phê duyệt", "Approval chain"),
    ("no_chain", "Chưa có quyết định nào: sáng kiến mới đăng ký.", "No decision yet: the initiative is registered."),
    ("verification", "Kiểm tra chữ ký và quy tắc", "Signature and rule check"),
    ("valid", "Hợp lệ: mọi mục đã ký đều kiểm tra được đến khóa gốc của Tổng Liên đoàn.", "Valid: every signed entry verifies back to the national root key."),
    ("invalid", "Không hợp lệ:", "Not valid:"),
    ("differs", "Nội dung đã sửa sau quyết định gần nhất: quyết định đó xét một trạng thái khác.", "Edited after its last decision: that decision judged another state."),
    ("conflicts", "Chuỗi quyết định có nhánh rẽ (đã theo nhánh chuẩn).", "The decision chain forks (the canonical branch is followed)."),
    ("decide", "Quyết định của đơn vị này", "This unit's decision"),
    ("note", "Ghi chú / lý do (bắt buộc khi trả lại)", "Note / reason (required for a return)"),
    ("no_decision_here", "Đơn vị này không có quyết định nào để đưa ra lúc này.", "Nothing for this unit to decide now."),
    ("signed_as", "Ký với tên", "Signed as"),
    ("inbox_title", "Chờ quyết định của đơn vị", "Waiting for this unit's decision"),
    ("inbox_empty", "Không có sáng kiến nào chờ đơn vị quyết định.", "No initiative waits for this unit's decision."),
    ("of", "trên", "of"),
    ("open", "Mở trang sáng kiến", "Open the initiative's page"),
    ("sync_title", "Đồng bộ và tình trạng", "Sync and health"),
    ("peers", "Các nút kết nối", "Peers"),
    ("no_peers", "Chưa đồng bộ với nút nào.", "No sync with any peer yet."),
    ("peer", "Nút", "Peer"),
    ("address", "Địa chỉ", "Address"),
    ("last_sync", "Đồng bộ lần cuối", "Last sync"),
    ("received", "Nhận", "Received"),
    ("sent", "Gửi", "Sent"),
    ("pending", "Đang chờ", "Pending"),
    ("sync_failed", "lần gần nhất thất bại (xem nhật ký)", "last attempt failed (see the log)"),
    ("quarantine", "Cách ly (mục chờ điều kiện để kiểm tra)", "Quarantine (entries waiting for what they need)"),
    ("held", "Đang giữ", "Held"),
    ("expired", "Đã hết hạn", "Expired"),
    ("entry", "Mục", "Entry"),
    ("since", "Từ", "Since"),
    ("source", "Nguồn", "Source"),
    ("accounts_title", "Tài khoản cán bộ", "Officer accounts"),
    ("name", "Họ tên", "Full name"),
    ("officer_title", "Chức vụ", "Title"),
    ("roles", "Vai trò", "Roles"),
    ("add_account", "Thêm tài khoản", "Add an account"),
    ("add", "Thêm", "Add"),
    ("remove", "Xóa", "Remove"),
    ("error_title", "Không thực hiện được", "Could not be done"),
    ("back_home", "Về trang tổng quan", "Back to the dashboard"),
    ("lang_switch", "Ngôn ngữ", "Language"),
    ("description_h", "Mô tả (Mẫu 4)", "Description (Mẫu 4)"),
    // ---- members' self-registration (register.rs) ----
    ("reg_title", "Đăng ký sáng kiến", "Register your initiative"),
    ("reg_intro", "Người lao động tự đăng ký sáng kiến theo Mẫu 1. Tổ hỗ trợ sáng kiến của công đoàn sẽ xem, liên hệ với bạn rồi nộp lên cấp trên.", "Workers register their own initiative (Mẫu 1). The union's support team will review it, contact you, then submit it to the superior."),
    ("reg_you", "Người đăng ký", "About you"),
    ("reg_name", "Họ tên của bạn", "Your full name"),
    ("reg_contact", "Điện thoại hoặc thư điện tử (để tổ hỗ trợ liên hệ)", "Phone or e-mail (for the support team to contact you)"),
    ("reg_privacy", "Điện thoại, thư điện tử chỉ lưu tại nút của đơn vị này, không gửi lên cấp trên.", "Your phone or e-mail stays at this unit's node; it is not sent to the superior."),
    ("reg_initiative", "Sáng kiến", "The initiative"),
    ("reg_coauthors", "Đồng tác giả (nếu có)", "Co-authors (if any)"),
    ("reg_send", "Gửi đăng ký", "Send the registration"),
    ("reg_thanks_title", "Cảm ơn bạn!", "Thank you!"),
    ("reg_thanks", "Đã nhận đăng ký sáng kiến của bạn. Tổ hỗ trợ sáng kiến của công đoàn sẽ xem và liên hệ với bạn.", "Your initiative's registration was received. The union's support team will review it and contact you."),
    ("reg_another", "Đăng ký sáng kiến khác", "Register another initiative"),
    ("reg_closed_title", "Chưa mở đăng ký", "Registration is closed"),
    ("reg_closed", "Trang tự đăng ký sáng kiến của đơn vị này đang đóng. Hãy hỏi tổ hỗ trợ sáng kiến hoặc cán bộ công đoàn khi nào mở.", "This unit's self-registration page is closed. Ask the union's initiative support team or a union officer when it opens."),
    ("reg_refused_title", "Chưa nhận đăng ký", "Registration not taken"),
    ("reg_bad_token", "Biểu mẫu đã hết hạn hoặc không đến từ trang đăng ký của nút này. Không có gì được lưu; hãy mở lại trang đăng ký rồi gửi lại.", "The form has expired or did not come from this node's registration page. Nothing was stored; open the registration page again and resend."),
    ("reg_not_grassroots", "Quy tắc: sáng kiến được đăng ký tại công đoàn cơ sở, đơn vị có cấp trên trực tiếp; đơn vị này không có cấp trên trong cây đơn vị. Không có gì được lưu.", "Rule: initiatives are registered at a grassroots union, a unit with a direct superior; this unit has none in the unit tree. Nothing was stored."),
    ("reg_qr_title", "Người lao động tự đăng ký sáng kiến: đang mở", "Workers' self-registration: open"),
    ("reg_qr_hint", "Cho người lao động quét mã này bằng điện thoại (trong mạng của cơ quan) để tự điền Mẫu 1. Mỗi đăng ký thành một sáng kiến mới đăng ký của đơn vị, chờ tổ hỗ trợ xem và nộp. Đóng trang bằng lệnh: sangkien node registration close", "Let workers scan this code with a phone (on the office network) to fill in Mẫu 1 themselves. Each registration becomes a registered initiative of this unit, waiting for the support team to review and submit it. Close the page with: sangkien node registration close"),
    ("reg_qr_local", "Địa chỉ này chỉ mở được trên chính máy chạy nút. Hãy mở trang tổng quan bằng địa chỉ của máy trong mạng cơ quan, hoặc đặt địa chỉ bằng lệnh sangkien node registration open --url ĐỊA_CHỈ.", "This address only works on the computer that runs the node. Open the dashboard through the computer's office-network address, or set the address with sangkien node registration open --url ADDRESS."),
    ("self_registered", "Người lao động tự đăng ký", "Self-registered by a worker"),
    ("self_registered_by", "Người đăng ký và liên hệ", "Registered by, contact"),
    // ---- the inbox, the initiative form and page (web::initiatives) ----
    ("form_edit_title", "Sửa sáng kiến (Mẫu 1, Mẫu 4)", "Edit the initiative (Mẫu 1, Mẫu 4)"),
    ("authors_more", "Cần thêm dòng tác giả: lưu, rồi sửa lại — mỗi lần mở thêm hai dòng trống.", "Need more author rows: save, then edit again — each time two more empty rows open."),
    ("confidential_fixed", "(chọn khi đăng ký, không đổi được)", "(chosen at registration, cannot change)"),
    ("recognition_h", "Công nhận của người sử dụng lao động", "The employer's recognition"),
    ("recognition_hint", "Điền đủ ba ô khi đã có quyết định công nhận; để trống cả ba nếu chưa có.", "Fill in all three once there is a recognition decision; leave all three empty if not yet."),
    ("employer_decision", "Số quyết định", "Decision number"),
    ("employer_date", "Ngày quyết định (ngày/tháng/năm)", "Decision date (day/month/year)"),
    ("employer_reward", "Hình thức khen thưởng", "Reward"),
    ("files_h", "Tệp đính kèm", "Attachments"),
    ("files_add", "Thêm tệp (Mẫu 4, ảnh, bản vẽ…)", "Add files (Mẫu 4, photos, drawings…)"),
    ("files_limit", "tối đa", "at most"),
    ("file_confidential", "bí mật: chỉ Tổ hỗ trợ, Thẩm định, Lãnh đạo được tải", "confidential: only support team, appraisers and leaders may download it"),
    ("cancel", "Hủy", "Cancel"),
    ("edit", "Sửa sáng kiến", "Edit the initiative"),
    ("batch_h", "Quyết định nhiều sáng kiến một lần", "Decide several at once"),
    ("batch_results", "Kết quả từng sáng kiến", "What happened to each initiative"),
    ("may_decide", "Đơn vị được quyết định", "This unit may"),
    ("batch_action", "Quyết định cho các sáng kiến đã chọn", "Decision for the initiatives ticked"),
    ("batch_do", "Ghi quyết định (ký bằng khóa của đơn vị)", "Record the decision (signed with the unit's key)"),
    ("batch_hint", "Mỗi sáng kiến được xét riêng: sáng kiến nào quy tắc không cho phép thì không ghi, kèm lý do. Tối đa mỗi lần:", "Each initiative is judged on its own: one a rule does not allow is not recorded, with the rule. At most per action:"),
    ("one_at_a_time", "Từng sáng kiến", "One at a time"),
    ("field", "Mục", "Field"),
    ("judged_value", "Khi được quyết định", "When decided"),
    ("current_value", "Hiện nay", "Now"),
    ("err_files_again", "Biểu mẫu chưa được lưu nên tệp đã chọn không được giữ: chọn lại tệp rồi gửi.", "The form was not saved, so the files chosen were not kept: choose them again and send."),
    ("err_batch_none", "Chưa chọn sáng kiến nào: đánh dấu các sáng kiến cần quyết định.", "No initiative ticked: tick the initiatives to decide on."),
    ("err_batch_kind", "Chọn quyết định cho các sáng kiến đã đánh dấu.", "Choose the decision for the initiatives ticked."),
    ("choose", "— chọn —", "— choose —"),
    ("err_batch_twice", "Sáng kiến được chọn hai lần; chỉ ghi một quyết định.", "The initiative was ticked twice; one decision only is recorded."),
    ("rule_edit_origin", "Quy tắc: chỉ đơn vị gốc (công đoàn cơ sở đã đăng ký) sửa được sáng kiến; nút này giữ nó để xét và quyết định.", "Rule: only the origin unit (the grassroots union that registered it) edits an initiative; this node holds it to judge and decide."),
    ("rule_edit_state", "Quy tắc: sáng kiến chỉ được sửa khi mới đăng ký hoặc bị trả lại để bổ sung; đã nộp thì chuỗi duyệt xét đúng trạng thái đã nộp — nhờ cấp trên trả lại nếu cần sửa.", "Rule: an initiative is edited only while registered or returned for revision; once submitted, the chain judges the state submitted — ask the superior to return it if it needs changes."),
    // ---- end of the initiative pages ----
    // ---- dashboard, targets, Mẫu 2, reports ----
    ("waiting_for_decision", "sáng kiến chờ đơn vị quyết định", "initiatives wait for this unit's decision"),
    ("no_programme", "Nút này chưa có chương trình nào: chương trình do cấp trên phát động sẽ đến khi đồng bộ.", "This node holds no programme yet: one launched above arrives with sync."),
    ("all_children", "Xem mọi đơn vị trực thuộc trong báo cáo", "See every child unit in the report"),
    ("days_left", "còn (ngày)", "days left"),
    ("programme", "Chương trình", "Programme"),
    ("target_lc", "chỉ tiêu", "target"),
    ("nav_targets", "Chỉ tiêu", "Targets"),
    ("targets_saved", "Đã giao chỉ tiêu (ký bằng khóa của đơn vị).", "Targets assigned (signed with the unit's key)."),
    ("target_received", "Chỉ tiêu đơn vị được giao", "Target this unit received"),
    ("assigned_total", "Đã giao cho cấp dưới (tổng)", "Assigned to child units (total)"),
    ("assigned_short", "Lưu ý: tổng đã giao thấp hơn chỉ tiêu được giao, còn thiếu", "Note: less assigned than received, short by"),
    ("registered_now", "Đã đăng ký", "Registered so far"),
    ("children_targets", "Chỉ tiêu của đơn vị trực thuộc", "Child units' targets"),
    ("reassigned", "Đã giao tiếp xuống dưới", "Re-assigned below"),
    ("units_lc", "đơn vị", "units"),
    ("assign_button", "Giao chỉ tiêu (ký bằng khóa của đơn vị)", "Assign (signed with the unit's key)"),
    ("assign_hint", "Ô để trống giữ nguyên chỉ tiêu đã giao.", "An empty field keeps the target already assigned."),
    ("leader_assigns", "Chỉ cán bộ lãnh đạo giao chỉ tiêu.", "Only a leader assigns targets."),
    ("no_children", "Đơn vị này không có đơn vị trực thuộc.", "This unit has no child units."),
    ("nav_reports", "Báo cáo", "Reports"),
    ("downloads", "Tải báo cáo", "Download the report"),
    ("report_date", "Ngày báo cáo", "Report date"),
    ("launched_by", "Đơn vị phát động", "Launched by"),
    ("by_sector", "Theo lĩnh vực", "By sector"),
    ("by_phase", "Theo giai đoạn", "By phase"),
    ("over_time", "Tiến độ theo thời gian", "Progress over time"),
    ("by_registration_date", "theo ngày đăng ký", "by registration date"),
    ("date", "Ngày", "Date"),
    ("cumulative", "Lũy kế", "Cumulative"),
    ("nav_mau2", "Mẫu 2", "Mẫu 2"),
    ("mau2_title", "Mẫu 2 — Danh sách tổng hợp sáng kiến", "Mẫu 2 — consolidated list of initiatives"),
    ("mau2_hint", "Mỗi dòng là quyết định của đơn vị này, đã ký bằng khóa của đơn vị. Mã tổng hợp ở cuối gắn bản giấy với đúng các mục đã ký này.", "Each line is this unit's decision, signed with the unit's key. The digest at the foot ties the paper copy to exactly these signed entries."),
    ("mau2_empty", "Chưa có sáng kiến nào được đơn vị này duyệt trong chương trình.", "No initiative of the programme approved by this unit yet."),
    ("mau2_digest", "Mã tổng hợp của danh sách (BLAKE3)", "List digest (BLAKE3)"),
    ("mau2_bundle", "Gói các mục đã ký gửi cấp trên", "Bundle of the signed entries for the superior"),
    ("mau2_sign", "Ký và tải gói", "Sign and download the bundle"),
    ("mau2_bundle_hint", "Gói được ký bằng khóa của đơn vị; cấp trên nhập gói qua đường kiểm tra thông thường.", "The bundle is signed with the unit's key; the superior imports it through the usual verified path."),
    ("leader_signs", "Chỉ cán bộ lãnh đạo ký gói Mẫu 2.", "Only a leader signs the Mẫu 2 bundle."),
    ("decision", "Quyết định", "Decision"),
    ("mau2_no_superior", "Đơn vị này không có cấp trên để gửi gói Mẫu 2.", "This unit has no superior to send a Mẫu 2 bundle to."),
    ("secret_authors", "(bí mật công nghệ)", "(technology secret)"),
    // ---- end of dashboard, targets, Mẫu 2, reports ----
];

/// The sentence for `key` in `lang` (the key itself if missing: a bug the tests catch).
pub fn text(lang: Lang, key: &str) -> &str {
    TEXTS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, vi, en)| lang.t(vi, en))
        .unwrap_or(key)
}

/// The title of an error page.
pub fn status_title(lang: Lang, status: u16) -> &'static str {
    match status {
        403 => lang.t("Không được phép", "Not allowed"),
        404 => lang.t("Không tìm thấy", "Not found"),
        500 => lang.t("Lỗi của nút", "The node failed"),
        _ => lang.t("Không thực hiện được", "Could not be done"),
    }
}

/// The name of a status filter.
pub fn status_name(lang: Lang, code: &str) -> &'static str {
    match code {
        "registered" => lang.t("Mới đăng ký", "Registered"),
        "submit" => lang.t("Đã nộp", "Submitted"),
        "return" => lang.t("Trả lại để bổ sung", "Returned for revision"),
        "reject" => lang.t("Không công nhận", "Rejected"),
        "approve" => lang.t("Đã duyệt, chuyển lên", "Approved and forwarded"),
        "recognise" => lang.t("Đã công nhận", "Recognised"),
        _ => lang.t("Đã khen thưởng", "Awarded"),
    }
}

/// A decision as a button says it.
pub fn action_name(lang: Lang, k: DecisionKind) -> &'static str {
    match k {
        DecisionKind::Submit => lang.t("Nộp lên cấp trên", "Submit to the superior"),
        DecisionKind::ReturnForRevision => lang.t("Trả lại để bổ sung", "Return for revision"),
        DecisionKind::Reject => lang.t("Không công nhận", "Reject"),
        DecisionKind::Approve => lang.t("Duyệt và chuyển lên", "Approve and forward"),
        DecisionKind::Recognise => lang.t("Công nhận", "Recognise"),
        DecisionKind::Award(AwardGrade::Typical) => {
            lang.t("Khen thưởng (tiêu biểu)", "Award (typical)")
        }
        DecisionKind::Award(AwardGrade::Excellent) => {
            lang.t("Khen thưởng (xuất sắc)", "Award (excellent)")
        }
    }
}

/// A refused search.
pub fn search_error(lang: Lang, e: &SearchError) -> String {
    match e {
        SearchError::Empty => lang
            .t(
                "Hãy gõ một hoặc vài từ để tìm.",
                "Type one or more words to search for.",
            )
            .into(),
        SearchError::TooLong { limit, .. } => match lang {
            Lang::Vi => format!("Chuỗi tìm quá dài: tối đa {limit} ký tự."),
            Lang::En => format!("The search is too long: at most {limit} characters."),
        },
        SearchError::Node(_) => lang
            .t("Không tìm được lúc này.", "The search failed.")
            .into(),
    }
}

/// A refused account operation.
pub fn account_error(lang: Lang, e: &AccountError) -> String {
    use sync_protocol::limits::{MAX_LOGIN_BYTES, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
    match (lang, e) {
        (Lang::Vi, AccountError::BadLogin(_)) => format!("Tên đăng nhập gồm 1 đến {MAX_LOGIN_BYTES} ký tự a-z, 0-9, '.', '-', '_' (không dấu, chữ thường)."),
        (Lang::En, AccountError::BadLogin(_)) => format!("A login name is 1 to {MAX_LOGIN_BYTES} characters a-z, 0-9, '.', '-', '_'."),
        (Lang::Vi, AccountError::BadText { field, .. }) => format!("Ô {} trống hoặc có ký tự không dùng được.", if *field == "name" { "họ tên" } else { "chức vụ" }),
        (Lang::En, AccountError::BadText { field, .. }) => format!("The {field} is empty or has characters that cannot be used."),
        (Lang::Vi, AccountError::BadPassword { .. }) => format!("Mật khẩu dài {MIN_PASSWORD_CHARS} đến {MAX_PASSWORD_CHARS} ký tự."),
        (Lang::En, AccountError::BadPassword { .. }) => format!("A password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long."),
        (Lang::Vi, AccountError::NoRole) => "Chọn ít nhất một vai trò.".into(),
        (Lang::En, AccountError::NoRole) => "Choose at least one role.".into(),
        (Lang::Vi, AccountError::Exists(l)) => format!("Đã có tài khoản {l}."),
        (Lang::En, AccountError::Exists(l)) => format!("Account {l} exists already."),
        (Lang::Vi, AccountError::Unknown(l)) => format!("Không có tài khoản {l}."),
        (Lang::En, AccountError::Unknown(l)) => format!("There is no account {l}."),
        (Lang::Vi, AccountError::TooMany) => "Nút đã có quá nhiều tài khoản; xóa bớt trước.".into(),
        (Lang::En, AccountError::TooMany) => "The node has too many accounts; remove one first.".into(),
        (Lang::Vi, AccountError::Store(_)) => "Không ghi được tài khoản vào cơ sở dữ liệu của nút.".into(),
        (Lang::En, AccountError::Store(_)) => "The account could not be written to the node's database.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("key")` in the templates has its two sentences, and no key is there twice.
    #[test]
    fn every_template_key_is_worded() {
        // Every template parses.
        let _ = super::super::templates();
        let templates = [
            include_str!("templates/base.html"),
            include_str!("templates/login.html"),
            include_str!("templates/dashboard.html"),
            include_str!("templates/list.html"),
            include_str!("templates/form.html"),
            include_str!("templates/initiative.html"),
            include_str!("templates/initiative_body.html"),
            include_str!("templates/inbox.html"),
            include_str!("templates/sync.html"),
            include_str!("templates/accounts.html"),
            include_str!("templates/error.html"),
        ];
        for src in templates {
            for part in src.split("t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(
                    TEXTS.iter().any(|(k, _, _)| *k == key),
                    "no sentence for {key}"
                );
            }
        }
        let mut keys: Vec<&str> = TEXTS.iter().map(|(k, _, _)| *k).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a key twice");
    }

    /// The same for the dashboard's, targets', Mẫu 2's and reports' templates.
    #[test]
    fn every_key_of_the_report_pages_is_worded() {
        for src in [
            include_str!("templates/progress_head.html"),
            include_str!("templates/children_table.html"),
            include_str!("templates/targets.html"),
            include_str!("templates/reports.html"),
            include_str!("templates/mau2.html"),
        ] {
            assert!(!src.contains("t('"), "keys are quoted with \"");
            for part in src.split("t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(
                    TEXTS.iter().any(|(k, _, _)| *k == key),
                    "no sentence for {key}"
                );
            }
        }
    }
}
