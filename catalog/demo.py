"""Demo catalogue (``ctidesk demo``): household appliances, their models, and a fault
taxonomy a service center would really use, in zh-CN and English. Idempotent:
a code that exists is left as it is (an admin may have edited it)."""
from __future__ import annotations

from catalog import service
from ctidesk.errors import NotFound

CATEGORIES = [("WASHER", "洗衣机", "Washing machine"), ("FRIDGE", "冰箱", "Refrigerator"),
              ("AC", "空调", "Air conditioner")]
MODELS = [("XQG100", "WASHER", "滚筒洗衣机 XQG100", "Front loader XQG100"),
          ("XQG80", "WASHER", "滚筒洗衣机 XQG80", "Front loader XQG80"),
          ("BCD-470", "FRIDGE", "对开门冰箱 BCD-470", "Side-by-side fridge BCD-470"),
          ("KFR-35GW", "AC", "挂壁式空调 KFR-35GW", "Wall-mounted AC KFR-35GW"),
          ("KFR-72LW", "AC", "立柜式空调 KFR-72LW", "Floor-standing AC KFR-72LW")]

# class (code, category or None, zh, en) -> phenomena (code, zh, en) -> causes (code, zh, en, remedy zh, remedy en)
FAULTS = [
    (("WM-DRUM", "WASHER", "滚筒与传动", "Drum and drive"), [
        (("WM-NOSPIN", "滚筒不转", "Drum does not turn"), [
            ("WM-NOSPIN-DOOR", "门锁未锁好", "Door lock not engaged",
             "关紧机门，门锁指示灯亮后重新启动", "Close the door firmly; restart once the lock light is on"),
            ("WM-NOSPIN-BELT", "皮带松脱或断裂", "Drive belt loose or broken",
             "预约上门更换皮带", "Book a technician to replace the belt"),
            ("WM-NOSPIN-MOTOR", "电机或电脑板故障", "Motor or control board fault",
             "预约上门检测电机与电脑板", "Book a technician to test the motor and the board")]),
        (("WM-NOISE", "脱水时噪音大", "Loud noise when spinning"), [
            ("WM-NOISE-BOLT", "运输螺栓未拆除", "Transit bolts still fitted",
             "拆除机身背部的运输螺栓", "Remove the transit bolts at the back"),
            ("WM-NOISE-LEVEL", "机身不平", "Machine not level", "调整底脚使机身水平", "Adjust the feet until level")])]),
    (("WM-WATER", "WASHER", "进水与排水", "Water inlet and drain"), [
        (("WM-NODRAIN", "不排水（显示 E21）", "Does not drain (E21)"), [
            ("WM-NODRAIN-FILTER", "排水泵过滤器堵塞", "Drain pump filter blocked",
             "清洗右下角的排水泵过滤器", "Clean the drain pump filter (bottom right)"),
            ("WM-NODRAIN-HOSE", "排水管弯折或过高", "Drain hose kinked or too high",
             "理顺排水管，出口不高于 100 厘米", "Straighten the hose; keep its end below 100 cm")]),
        (("WM-LEAK", "底部漏水", "Leaks at the bottom"), [
            ("WM-LEAK-SEAL", "门封破损", "Door seal damaged", "预约上门更换门封", "Book a technician to replace the seal"),
            ("WM-LEAK-INLET", "进水管接头松动", "Inlet hose loose",
             "拧紧进水管接头并检查垫圈", "Tighten the inlet hose and check its washer")])]),
    (("FR-COOL", "FRIDGE", "制冷", "Cooling"), [
        (("FR-NOTCOLD", "冷藏室不冷", "Fridge compartment not cold"), [
            ("FR-NOTCOLD-SET", "温度设置过高", "Temperature set too high", "将冷藏温度调到 2–5°C", "Set the fridge to 2–5 °C"),
            ("FR-NOTCOLD-VENT", "散热不良", "Poor ventilation", "机身四周留出 10 厘米散热空间",
             "Leave 10 cm free around the cabinet"),
            ("FR-NOTCOLD-GAS", "制冷剂泄漏", "Refrigerant leak", "预约上门检漏加氟",
             "Book a technician for a leak test and recharge")]),
        (("FR-FROST", "冷冻室结霜严重", "Heavy frost in the freezer"), [
            ("FR-FROST-DOOR", "门封不严", "Door does not seal", "清洁门封，仍不严则更换",
             "Clean the gasket; replace it if it still leaks")])]),
    (("FR-NOISE", "FRIDGE", "噪音", "Noise"), [
        (("FR-NOISE-LOUD", "运行噪音大", "Loud running noise"), [
            ("FR-NOISE-LEVEL", "放置不平", "Not level", "调节底脚使冰箱放平", "Adjust the feet until level"),
            ("FR-NOISE-FAN", "风扇结冰或碰擦", "Fan iced up or rubbing", "断电化霜后观察，仍有异响则上门",
             "Defrost with the power off; if still noisy, book a technician")])]),
    (("AC-COOL", "AC", "制冷制热", "Cooling and heating"), [
        (("AC-NOTCOOL", "制冷效果差", "Cools poorly"), [
            ("AC-NOTCOOL-FILTER", "滤网脏堵", "Dirty filter", "清洗室内机滤网", "Clean the indoor unit's filter"),
            ("AC-NOTCOOL-MODE", "模式或温度设置不当", "Wrong mode or setpoint", "确认为制冷模式，设定 26°C",
             "Check it is in cooling mode at 26 °C"),
            ("AC-NOTCOOL-GAS", "缺氟", "Low on refrigerant", "预约上门检漏加氟",
             "Book a technician for a leak test and recharge")]),
        (("AC-E1", "显示 E1（通讯故障）", "Shows E1 (communication)"), [
            ("AC-E1-WIRE", "内外机连接线松动", "Interconnect cable loose", "预约上门检查内外机连接线",
             "Book a technician to check the interconnect cable")])]),
    (("AC-WATER", "AC", "漏水", "Water"), [
        (("AC-DRIP", "室内机滴水", "Indoor unit drips"), [
            ("AC-DRIP-PIPE", "排水管堵塞或倒坡", "Drain pipe blocked or sloping back", "疏通排水管并调整坡度",
             "Clear the drain pipe and fix its slope")])]),
    (("ANY-POWER", None, "电源", "Power"), [
        (("ANY-NOPOWER", "不通电、无显示", "No power, blank display"), [
            ("ANY-NOPOWER-SOCKET", "插座或空气开关断电", "Socket or breaker off", "检查插座和空气开关",
             "Check the socket and the breaker"),
            ("ANY-NOPOWER-BOARD", "电源板故障", "Power board fault", "预约上门更换电源板",
             "Book a technician to replace the power board")])]),
]


async def load(db) -> int:
    """Create what is missing (flushed, not committed); how many rows were created."""
    created = 0

    async def add(kind: str, values: dict) -> None:
        nonlocal created
        k = service.KINDS[kind]
        try:
            await service.get(db=db, kind=k, code=values["code"])
        except NotFound:
            await service.create(db=db, kind=k, values=values)
            created += 1

    for sort, (code, zh, en) in enumerate(CATEGORIES):
        await add("categories", {"code": code, "name_zh": zh, "name_en": en, "sort": sort})
    for sort, (code, category, zh, en) in enumerate(MODELS):
        await add("models", {"code": code, "category_code": category, "name_zh": zh, "name_en": en, "sort": sort})
    for sort, ((code, category, zh, en), phenomena) in enumerate(FAULTS):
        await add("fault-classes", {"code": code, "category_code": category, "name_zh": zh, "name_en": en,
                                    "sort": sort})
        for (p_code, p_zh, p_en), causes in phenomena:
            await add("fault-phenomena", {"code": p_code, "class_code": code, "name_zh": p_zh, "name_en": p_en})
            for c_code, c_zh, c_en, r_zh, r_en in causes:
                await add("fault-causes", {"code": c_code, "phenomenon_code": p_code, "name_zh": c_zh,
                                           "name_en": c_en, "remedy_zh": r_zh, "remedy_en": r_en})
    return created
