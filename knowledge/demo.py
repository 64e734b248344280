"""Demo answer scripts (话术) for every ticket type, in zh-CN and English (``ctidesk demo``).
Idempotent: a script that exists is left as it is (an editor may have changed it)."""
from __future__ import annotations

from knowledge import scripts

OPEN_ZH = "您好，这里是售后服务中心，很高兴为您服务。"
OPEN_EN = "Hello, after-sales service, thank you for calling. How can I help you?"
CLOSE_ZH = "请问还有其他可以帮您的吗？感谢您的来电，祝您生活愉快，再见！"
CLOSE_EN = "Is there anything else I can do for you? Thank you for calling, goodbye."

# ticket type -> (zh questions, en questions, zh extra closing, en extra closing)
SCRIPTS = {
    "repair": (["请问是什么产品、什么型号？机身标签上的条码是多少？", "请描述一下故障现象，什么时候开始的？有没有显示故障代码？",
                "产品是哪一年购买的？还有发票或电子保修卡吗？", "方便上门的时间和详细地址是？"],
               ["Which product and model is it? What is the serial number on the label?",
                "What does it do wrong, since when? Does it show an error code?",
                "When was it bought? Do you have the invoice or warranty card?",
                "When can a technician come, and what is the full address?"],
               "我们会在 2 小时内安排工程师与您联系。", "A technician will call you within two hours."),
    "install": (["请问购买的是什么产品、型号？", "安装地址是？墙体是否承重，有没有预留专用插座？", "希望哪天上门安装？"],
                ["Which product and model did you buy?",
                 "Where is it to be installed? Is the wall load-bearing, is there a dedicated socket?",
                 "Which day suits you for the installation?"],
                "安装免费，高空作业等辅料费用以现场为准。", "Installation is free; materials such as brackets are charged as used."),
    "complaint": (["非常抱歉给您带来不便。请问具体是什么问题？", "涉及的工单号或服务人员是？", "您希望我们怎样处理？"],
                  ["I am very sorry for the trouble. What happened exactly?",
                   "Which ticket number or which technician is it about?", "What would you like us to do?"],
                  "您的意见已记录，我们会在 24 小时内给您答复。", "Your complaint is recorded; we will answer within 24 hours."),
    "consultation": (["请问想了解哪款产品？", "主要关心功能、价格还是保修政策？"],
                     ["Which product would you like to know about?", "Is it about features, price or the warranty?"],
                     "更多信息可以关注我们的官方服务号。", "You will find more on our official service account."),
    "suggestion": (["感谢您的建议！请问是关于产品还是服务？", "方便留下联系方式，以便我们回访吗？"],
                   ["Thank you for the suggestion! Is it about a product or our service?",
                    "May we call you back about it? Which number is best?"],
                   "您的建议会转交相关部门。", "We will pass it on to the team concerned."),
    "callback": (["您好，这里是售后服务中心，就您之前的服务做个回访。", "问题解决了吗？对工程师的服务满意吗（1-5 分）？"],
                 ["Hello, after-sales service here, calling back about your recent service.",
                  "Is the problem solved? How satisfied are you with the technician (1 to 5)?"],
                 "感谢您的反馈。", "Thank you for your feedback."),
}


async def load(db, actor: str = "erin") -> int:
    """Create the scripts that are missing (flushed, not committed); how many were created."""
    created = 0
    for ticket_type, (q_zh, q_en, close_zh, close_en) in SCRIPTS.items():
        for lang, opening, questions, closing in (("zh-CN", OPEN_ZH, q_zh, f"{close_zh}{CLOSE_ZH}"),
                                                  ("en", OPEN_EN, q_en, f"{close_en} {CLOSE_EN}")):
            if await scripts.exact(db=db, ticket_type=ticket_type, lang=lang) is not None:
                continue
            await scripts.save(db=db, actor=actor, role="expert", ticket_type=ticket_type, lang=lang,
                               opening=opening, questions=questions, closing=closing)
            created += 1
    return created
