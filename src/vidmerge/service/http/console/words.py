"""The console's words, in Japanese first and in English."""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "ja": {
        "console": "vidmerge コンソール", "templates": "テンプレート", "campaigns": "キャンペーン",
        "analytics": "分析", "sign_in": "サインイン", "sign_out": "サインアウト", "api_key": "API キー",
        "open_server": "この サーバーは認証なしで動いています（VIDMERGE_API_KEYS が未設定）。",
        "upload": "アップロード", "drop": "テンプレートの zip をここにドロップ、またはファイルを選択",
        "bundle": "テンプレート（zip）", "active_now": "すぐに有効にする", "version": "版", "status": "状態",
        "state": "公開", "title": "タイトル", "actions": "操作", "activate": "有効にする", "deactivate": "無効にする",
        "delete": "削除", "open": "開く", "preparing": "準備中", "ready": "準備完了", "failed": "失敗",
        "active": "有効", "inactive": "無効", "storyboard": "ストーリーボード", "segment": "セグメント",
        "personalized": "個別化", "cost": "1 本あたりのエンコード", "seconds_of": "秒（全体 {of} 秒）",
        "inputs": "入力", "preview": "プレビュー", "show": "表示する", "render_video": "動画を作る",
        "rendering": "作成中…", "edges": "エッジケース", "case": "ケース", "flags": "確認すること",
        "nothing": "問題なし", "cannot": "描けません", "warning_flagged": "確認が必要なケースがあります",
        "problems": "問題", "back": "戻る", "language": "English", "slots": "スロット", "error": "エラー",
    },
    "en": {
        "console": "vidmerge console", "templates": "Templates", "campaigns": "Campaigns", "analytics": "Analytics",
        "sign_in": "Sign in", "sign_out": "Sign out", "api_key": "API key",
        "open_server": "This server runs without authentication (VIDMERGE_API_KEYS is not set).",
        "upload": "Upload", "drop": "Drop a template zip here, or choose a file", "bundle": "Template (zip)",
        "active_now": "Activate at once", "version": "Version", "status": "Status", "state": "State",
        "title": "Title", "actions": "Actions", "activate": "Activate", "deactivate": "Deactivate",
        "delete": "Delete", "open": "Open", "preparing": "preparing", "ready": "ready", "failed": "failed",
        "active": "active", "inactive": "inactive", "storyboard": "Storyboard", "segment": "Segment",
        "personalized": "personalized", "cost": "Encoded per customer", "seconds_of": "s (of {of} s)",
        "inputs": "Inputs", "preview": "Preview", "show": "Show", "render_video": "Render the video",
        "rendering": "Rendering…", "edges": "Edge cases", "case": "Case", "flags": "To look at",
        "nothing": "nothing", "cannot": "cannot be drawn", "warning_flagged": "Some cases need a look",
        "problems": "Problems", "back": "Back", "language": "日本語", "slots": "Slots", "error": "Error",
    },
}  # fmt: skip
